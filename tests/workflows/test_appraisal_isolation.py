"""考核结果 screen and ``/api/v1/appraisal_result/``: each county sees its own results only, nobody writes.

Rows come from the demo generator (``app.workflows.appraisal_demo``) for 2024 in both demo counties,
so the checks run on realistic data: Guanling's GL-5 months and annual grades, Shishi's SS-7 grades.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
from sqlalchemy import delete, func, select

from app.core.tenancy import tenant_context
from app.extensions import db
from app.workflows.appraisal_models import AppraisalResult
from support import login

API = "/api/v1/appraisal_result"


@pytest.fixture(scope="module")
def results(app, demo) -> Iterator[dict[str, list[int]]]:
    """2024 demo results in both counties (only the rows this module added are removed afterwards)."""
    from app.workflows.appraisal_demo import load_demo_appraisals

    t = AppraisalResult.__table__
    with app.app_context():
        before = set(db.session.execute(select(t.c.id)).scalars())
        for slug in ("shishi", "guanling"):
            with tenant_context(demo["tenant_ids"][slug]):
                load_demo_appraisals(dt.date(2025, 1, 15), years=(2024,))
        db.session.remove()
        by_tenant: dict[str, list[int]] = {}
        for slug in ("shishi", "guanling"):
            by_tenant[slug] = list(db.session.execute(select(t.c.id).where(
                t.c.tenant_id == demo["tenant_ids"][slug]).order_by(t.c.id)).scalars())
        added = set(db.session.execute(select(t.c.id)).scalars()) - before
        db.session.remove()
    yield by_tenant
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(delete(t).where(t.c.id.in_(added)))


def _count(app, tenant_id: int, *where) -> int:
    t = AppraisalResult.__table__
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(t).where(t.c.tenant_id == tenant_id, *where)) \
            .scalar_one()


def test_demo_gives_both_counties_results(app, demo, results):
    t = AppraisalResult.__table__
    ss, gl = demo["tenant_ids"]["shishi"], demo["tenant_ids"]["guanling"]
    assert _count(app, gl, t.c.scheme == "GL5", t.c.period == "2024-06") > 0  # GL-5 monthly scores, ranked
    assert _count(app, gl, t.c.scheme == "GL5", t.c.period == "2024", t.c.grade.is_not(None)) > 0  # annual grade
    assert _count(app, gl, t.c.period == "2024-06", t.c.rank_in_county.is_(None)) == 0
    assert _count(app, ss, t.c.scheme == "SS7", t.c.period == "2024") > 100  # every assistant in post in 2024
    # SS-7 末位 is the city's lowest score of the year (ties included), not the grade 不合格
    lowest = _min_total(app, ss, t.c.scheme == "SS7", t.c.period == "2024")
    flagged = _count(app, ss, t.c.scheme == "SS7", t.c.period == "2024", t.c.last_place.is_(True))
    assert flagged == _count(app, ss, t.c.scheme == "SS7", t.c.period == "2024", t.c.total == lowest) > 0
    assert _count(app, ss, t.c.scheme == "SS7", t.c.period == "2024", t.c.grade == "不合格") > flagged
    assert _count(app, ss, t.c.scheme == "SS7", t.c.period == "2024", t.c.total.is_(None)) == 0


def _min_total(app, tenant_id: int, *where) -> float:
    t = AppraisalResult.__table__
    with app.app_context():
        return db.session.execute(select(func.min(t.c.total)).where(t.c.tenant_id == tenant_id, *where)).scalar_one()


def test_results_screen_lists_and_shows_own_county_only(app, demo, results):
    ss = login(app.test_client(), "ss_admin")
    html = ss.get("/appraisal/results/list/?_l_=en&psize_AppraisalResultView=1").get_data(as_text=True)
    shown = int(re.search(r"Record Count:</strong>\s*(\d+)", html).group(1))
    assert shown == _count(app, demo["tenant_ids"]["shishi"])
    other = results["guanling"][0]
    assert ss.get(f"/appraisal/results/show/{other}").status_code == 404
    assert ss.get(f"/appraisal/results/print/{other}").status_code == 404
    assert ss.get(f"/appraisal/results/print/{other}.pdf").status_code == 404
    own = results["shishi"][0]
    page = ss.get(f"/appraisal/results/show/{own}").get_data(as_text=True)
    assert "考核方案" in page and "SS7" in page
    for path in (f"/appraisal/results/edit/{own}", f"/appraisal/results/delete/{own}", "/appraisal/results/add"):
        assert ss.get(path).status_code == 404  # no write route exists at all


def test_results_screen_filters_by_period_scheme_grade_and_village(app, demo, results):
    gl = login(app.test_client(), "gl_admin")
    t = AppraisalResult.__table__
    gl_id = demo["tenant_ids"]["guanling"]

    def count(query: str) -> int:
        html = gl.get(f"/appraisal/results/list/?_l_=en&{query}").get_data(as_text=True)
        return int(re.search(r"Record Count:</strong>\s*(\d+)", html).group(1))

    assert count("_flt_3_period=2024") == _count(app, gl_id, t.c.period == "2024")
    assert count("_flt_3_period=2024&_flt_3_grade=合格") == _count(app, gl_id, t.c.period == "2024",
                                                                    t.c.grade == "合格")
    assert count("_flt_3_scheme=GL5") == _count(app, gl_id, t.c.scheme == "GL5")
    with app.app_context():
        village = db.session.execute(select(t.c.org_unit_id).where(t.c.id == results["guanling"][0])).scalar_one()
    assert count(f"_flt_0_org_unit={village}") == _count(app, gl_id, t.c.org_unit_id == village)
    # an old-style link keeps working: /appraisal/results/?period=… opens the filtered list
    resp = gl.get("/appraisal/results/?period=2024&grade=优秀")
    assert resp.status_code == 302 and "_flt_3_period=2024" in resp.headers["Location"]


def test_results_api_reads_own_county_and_refuses_writes(app, demo, results):
    ss = login(app.test_client(), "ss_admin")
    listing = ss.get(f"{API}/?q=(page_size:1)").get_json()
    assert listing["count"] == _count(app, demo["tenant_ids"]["shishi"])
    row = listing["result"][0]
    assert {"period", "scheme", "grade", "total", "last_place", "rank_in_county"} <= set(row)
    assert "id_number" not in str(row)
    other = results["guanling"][0]
    assert ss.get(f"{API}/{other}").status_code == 404
    own = results["shishi"][0]
    assert ss.get(f"{API}/{own}").get_json()["result"]["scheme"] == "SS7"
    for resp in (ss.put(f"{API}/{own}", json={"grade": "优秀"}), ss.delete(f"{API}/{own}"),
                 ss.post(f"{API}/", json={"grade": "优秀"}), ss.put(f"{API}/{other}", json={"grade": "优秀"})):
        assert resp.status_code in (404, 405)
    only_2024 = ss.get(f"{API}/?q=(filters:!((col:period,opr:eq,value:'2024')),page_size:1)").get_json()
    t = AppraisalResult.__table__
    assert only_2024["count"] == _count(app, demo["tenant_ids"]["shishi"], t.c.period == "2024")


def test_results_readers_are_county_town_and_province(app, demo, results):
    own = results["shishi"][0]
    town = login(app.test_client(), "ss_town")  # a town clerk reads the county's results
    assert town.get(f"{API}/{own}").status_code == 200
    assert town.get("/appraisal/results/list/").status_code == 200
    village = login(app.test_client(), "ss_village")  # colleagues' grades are not the village's to read
    assert village.get(f"{API}/{own}").status_code in (401, 403)
    assert village.get("/appraisal/results/list/").status_code in (302, 403)
    viewer = login(app.test_client(), "fj_viewer")
    assert viewer.post(f"/tenant/switch/{demo['tenant_ids']['shishi']}").status_code in (200, 302)
    assert viewer.get(f"{API}/{own}").status_code == 200
    assert viewer.delete(f"{API}/{own}").status_code in (403, 404, 405)
    assert viewer.get(f"{API}/{results['guanling'][0]}").status_code == 404

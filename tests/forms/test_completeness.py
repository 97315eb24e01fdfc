"""上报情况 (reporting completeness): on time / late / missing per town and county, scope, and the fill link."""

from __future__ import annotations

import datetime as dt
import shutil
from typing import Any

import pytest
from forms_support import MONTHLY, SS_TOWN, acting, unit, villages
from sqlalchemy import select

from app.core.errors import NotFound
from app.extensions import db
from app.forms import services
from app.forms.completeness import NotPeriodic, completeness, town_detail
from app.forms.models import FormRecord
from app.orgs.models import OrgUnit
from support import PASSWORD, TENANTS, login

PERIOD = "2025-03"  # due 2025-04-05 (due_day 5)
SLUG = "cp_done"


def _report(village: OrgUnit, submitted_at: dt.datetime | None, **over: int) -> FormRecord:
    from forms_support import monthly_data

    record = services.create_record(MONTHLY, {"org_unit_id": village.id, "period": PERIOD,
                                              "data": monthly_data(**over)})
    if submitted_at is not None:
        record.status, record.submitted_at = "submitted", submitted_at
    db.session.flush()
    return record


@pytest.fixture(scope="module")
def copied(app, demo, tmp_path_factory) -> dict[str, Any]:
    """A copy of Shishi with, in town 350581001: 2 on time, 1 late, 1 draft, rest missing; 1 late elsewhere."""
    from app.security.services import add_user
    from app.tenantio.loader import load_tenant_folder

    folder = tmp_path_factory.mktemp("cp") / SLUG
    shutil.copytree(TENANTS / "shishi", folder)
    cfg = folder / "tenant.yaml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("slug: shishi", f"slug: {SLUG}"), encoding="utf-8")
    with app.app_context():
        tenant_id = load_tenant_folder(folder).tenant_id
        with acting(tenant_id):
            town_villages = villages(SS_TOWN)
            _report(town_villages[0], dt.datetime(2025, 4, 1, 9, 0))
            # submitted_at is UTC; the due day ends at midnight Beijing time (16:00 UTC)
            _report(town_villages[1], dt.datetime(2025, 4, 5, 15, 59))   # 23:59 on the due day: on time
            _report(town_villages[2], dt.datetime(2025, 4, 5, 16, 0))    # a minute later (00:00 on the 6th): late
            _report(town_villages[3], None)                              # draft: counts as missing
            other_town = db.session.scalar(select(OrgUnit).where(OrgUnit.level == "town", OrgUnit.code != SS_TOWN)
                                           .order_by(OrgUnit.path))
            other_village = db.session.scalar(select(OrgUnit).where(OrgUnit.parent_id == other_town.id,
                                                                    OrgUnit.level == "village"))
            _report(other_village, dt.datetime(2025, 5, 20, 8, 0))
            n_town = len(town_villages)
            n_county = len(db.session.scalars(select(OrgUnit.id).where(OrgUnit.level == "village")).all())
            ids = {"town": unit(SS_TOWN).id, "other_town": other_town.id,
                   "villages": [v.id for v in town_villages], "other_town_code": other_town.code}
            db.session.commit()
        add_user("cp_admin", role="county_admin", password=PASSWORD, tenant_slug=SLUG)
        add_user("cp_town", role="town_clerk", password=PASSWORD, tenant_slug=SLUG, scope_code=SS_TOWN)
        db.session.remove()
    return {"tenant_id": tenant_id, "n_town": n_town, "n_county": n_county, **ids}


def test_counts_per_town_and_county(app, copied):
    with app.app_context(), acting(copied["tenant_id"]):
        result = completeness(MONTHLY, PERIOD)
        assert result.due == dt.date(2025, 4, 5)
        town = next(r for r in result.towns if r.code == SS_TOWN)
        assert (town.expected, town.on_time, town.late, town.missing) == (copied["n_town"], 2, 1,
                                                                          copied["n_town"] - 3)
        assert town.rate == round(100 * 3 / copied["n_town"], 1)
        other = next(r for r in result.towns if r.code == copied["other_town_code"])
        assert (other.on_time, other.late) == (0, 1)
        assert sum(r.expected for r in result.towns) == copied["n_county"] == result.county.expected
        assert (result.county.on_time, result.county.late) == (2, 2)
        assert result.county.missing == copied["n_county"] - 4


def test_town_drill_down_lists_each_village_with_its_status(app, copied):
    with app.app_context(), acting(copied["tenant_id"]):
        town, units = town_detail(MONTHLY, PERIOD, copied["town"])
        assert town.code == SS_TOWN
        assert [u.org_id for u in units] == copied["villages"]
        assert [u.status for u in units[:5]] == ["on_time", "on_time", "late", "draft", "missing"]
        assert units[4].record_id is None and units[3].record_id is not None


def test_a_period_of_another_month_has_everything_missing_and_bad_input_is_refused(app, copied):
    with app.app_context(), acting(copied["tenant_id"]):
        result = completeness(MONTHLY, "2025-02")
        assert result.county.missing == result.county.expected == copied["n_county"]
        with pytest.raises(NotPeriodic, match="期间「2025-3」无效"):
            completeness(MONTHLY, "2025-3")
        with pytest.raises(NotPeriodic, match="不是有截止日的周期性单位报表"):
            completeness("work_record", PERIOD)


def test_town_clerk_sees_own_town_only(app, copied):
    from app.core.tenancy import Scope, reset_scope, set_scope

    with app.app_context():
        with acting(copied["tenant_id"]):
            path = unit(SS_TOWN).path
        token = set_scope(Scope(tenant_id=copied["tenant_id"], capture_path=path))
        try:
            result = completeness(MONTHLY, PERIOD)
            assert [r.code for r in result.towns] == [SS_TOWN]
            assert result.county.expected == copied["n_town"] and result.county.late == 1
            with pytest.raises(NotFound):
                town_detail(MONTHLY, PERIOD, copied["other_town"])
        finally:
            reset_scope(token)
            db.session.remove()


def test_isolation_guanling_never_sees_shishi_figures(app, demo, copied, client):
    with app.app_context(), acting(demo["tenant_ids"]["guanling"]):
        with pytest.raises(NotFound):
            completeness(MONTHLY, PERIOD)
        with pytest.raises(NotFound):
            town_detail(MONTHLY, PERIOD, copied["town"])
    login(client, "gl_admin")
    resp = client.get(f"/reporting/?form={MONTHLY}&period={PERIOD}")
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    assert "cd-completeness-total" not in page and "没有可统计上报率的表单" in page
    assert client.get(f"/reporting/{MONTHLY}/{PERIOD}/town/{copied['town']}").status_code == 404


def test_screen_shows_the_figures_and_the_clerk_only_her_town(app, copied, client):
    login(client, "cp_admin")
    page = client.get(f"/reporting/?form={MONTHLY}&period={PERIOD}").get_data(as_text=True)
    assert f'data-org="{SS_TOWN}"' in page and f'data-org="{copied["other_town_code"]}"' in page
    assert "全县" in page and "截止日 2025-04-05" in page
    client.get("/logout/")
    login(client, "cp_town")
    page = client.get(f"/reporting/?form={MONTHLY}&period={PERIOD}").get_data(as_text=True)
    assert f'data-org="{SS_TOWN}"' in page and f'data-org="{copied["other_town_code"]}"' not in page
    assert client.get(f"/reporting/{MONTHLY}/{PERIOD}/town/{copied['other_town']}").status_code == 404


def test_the_link_to_a_missing_report_opens_the_add_form_for_that_village(app, copied, client):
    login(client, "cp_town")
    page = client.get(f"/reporting/{MONTHLY}/{PERIOD}/town/{copied['town']}").get_data(as_text=True)
    missing = copied["villages"][4]
    href = f"/forms/{MONTHLY}/add?org_unit={missing}&amp;period={PERIOD}"
    assert href in page
    assert f"/forms/{MONTHLY}/add?org_unit={copied['villages'][0]}" not in page  # reported: a 查看 link instead
    form_page = client.get(href.replace("&amp;", "&"))
    assert form_page.status_code == 200
    html = form_page.get_data(as_text=True)
    assert f'<option selected value="{missing}">' in html
    assert f'value="{PERIOD}"' in html


def test_a_read_only_viewer_reads_the_same_figures(app, copied):
    from app.core.tenancy import Scope, reset_scope, set_scope

    with app.app_context():
        token = set_scope(Scope(tenant_id=copied["tenant_id"], read_only=True))
        try:
            assert completeness(MONTHLY, PERIOD).county.late == 2
        finally:
            reset_scope(token)
            db.session.remove()

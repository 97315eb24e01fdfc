"""Quotas follow their inputs: one recompute job per tenant and period after a committed change."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from staffing_support import load, position, quota_rows, raw_quota_rows

from app.core.tenancy import tenant_context
from app.extensions import db
from app.jobs.queue import get_queue, wait_for
from app.orgs.models import OrgUnit, PopulationFact
from app.security.services import add_user
from app.staffing.quota_models import PositionRule
from app.staffing.rules import set_rule
from support import PASSWORD, login

VILLAGE = "350581106212"  # 计生常住人口 800 in 2025 (SS-1 → 1)


def _job_ids(app) -> set[str]:
    """Every job ever queued (its ``rq:job:<id>`` hash): real Redis and inline alike, whatever its state.

    Registries would miss a job a real worker has just taken from the queue but not yet marked started.
    """
    with app.app_context():
        conn = get_queue("long").connection
        keys = (k.decode() if isinstance(k, bytes) else k for k in conn.scan_iter(match="rq:job:*", count=1000))
        return {k.removeprefix("rq:job:") for k in keys if ":" not in k.removeprefix("rq:job:")}


def _new_jobs(app, before: set[str]) -> list:
    from rq.job import Job

    with app.app_context():
        conn = get_queue("long").connection
        jobs = [Job.fetch(job_id, connection=conn) for job_id in sorted(_job_ids(app) - before)]
        for job in jobs:
            assert wait_for(job) == "finished", job.latest_result()
        return jobs


@pytest.fixture(scope="module")
def county(app, tmp_path_factory):
    """A copy of Shishi under its own slug, with its own admin: the tests change its data freely."""
    import shutil

    from support import TENANTS

    folder = tmp_path_factory.mktemp("auto") / "ss_auto"
    shutil.copytree(TENANTS / "shishi", folder)
    cfg = folder / "tenant.yaml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("slug: shishi", "slug: ss_auto", 1), encoding="utf-8")
    jobs_before = _job_ids(app)
    with app.app_context():
        tenant_id = load(folder)
        add_user("ss_auto_admin", role="county_admin", password=PASSWORD, tenant_slug="ss_auto")
    loaded = _new_jobs(app, jobs_before)  # with a real worker the load's recomputes run beside the test
    return {"tenant_id": tenant_id, "folder": folder, "load_jobs": loaded}


def _fact_id(app, tenant_id: int, org_code: str, period: str) -> int:
    with app.app_context(), tenant_context(tenant_id):
        return int(db.session.scalar(select(PopulationFact.id).join(OrgUnit, OrgUnit.id == PopulationFact.org_unit_id)
                                     .where(OrgUnit.code == org_code, PopulationFact.period == period)))


def _position_id(app, tenant_id: int, code: str) -> int:
    with app.app_context():
        return position(tenant_id, code).id


def test_loading_a_folder_computes_its_quotas(app, county):
    assert sorted(j.args[3]["period"] for j in county["load_jobs"]) == ["2024", "2025"]
    with app.app_context():
        rows = quota_rows(county["tenant_id"], "2025")
        assert rows[(VILLAGE, "XGY")].quota == 1
        assert quota_rows(county["tenant_id"], "2024")  # every period of population.csv


def test_ss1_editing_a_population_fact_through_the_api_recomputes_that_period_only(app, county, demo, client):
    tenant_id = county["tenant_id"]
    with app.app_context():
        others = {t: raw_quota_rows(t) for t in demo["tenant_ids"].values()}
        before_2024 = quota_rows(tenant_id, "2024")
    login(client, "ss_auto_admin")
    jobs_before = _job_ids(app)
    resp = client.put(f"/api/v1/population_fact/{_fact_id(app, tenant_id, VILLAGE, '2025')}",
                      json={"resident_pop": 4501})
    assert resp.status_code == 200, resp.get_json()
    jobs = _new_jobs(app, jobs_before)
    assert [(j.meta["tenant_id"], j.args[3]["period"]) for j in jobs] == [(tenant_id, "2025")]
    with app.app_context():
        rows = quota_rows(tenant_id, "2025")
        assert rows[(VILLAGE, "XGY")].quota == 4  # SS-1: ceil(4501 / 1500)
        assert rows[(VILLAGE, "XGY")].inputs == {"resident_pop": 4501, "fact_period": "2025"}
        assert quota_rows(tenant_id, "2024") == before_2024
        assert {t: raw_quota_rows(t) for t in demo["tenant_ids"].values()} == others  # other tenants untouched


def test_a_change_refused_by_validation_queues_nothing(app, county, client):
    tenant_id = county["tenant_id"]
    with app.app_context():
        before = raw_quota_rows(tenant_id)
    login(client, "ss_auto_admin")
    jobs_before = _job_ids(app)
    resp = client.put(f"/api/v1/population_fact/{_fact_id(app, tenant_id, VILLAGE, '2025')}",
                      json={"resident_pop": "三千"})
    assert resp.status_code in (400, 422)
    resp = client.put(f"/api/v1/position/{_position_id(app, tenant_id, 'XGY')}",
                      json={"quota_formula": "MAX(1, CEILING(不存在的字段 / 1500))"})
    assert resp.status_code == 422 and "不存在的字段" in str(resp.get_json()["message"]["quota_formula"])
    assert _job_ids(app) == jobs_before
    with app.app_context():
        assert raw_quota_rows(tenant_id) == before
        with tenant_context(tenant_id):
            bad = select(PositionRule.formula).where(PositionRule.formula.contains("不存在"))
            assert db.session.scalar(bad) is None


def test_many_changes_in_one_request_queue_one_job_per_period(app, county):
    tenant_id = county["tenant_id"]
    jobs_before = _job_ids(app)
    with app.app_context(), tenant_context(tenant_id):
        facts = db.session.scalars(select(PopulationFact).where(PopulationFact.period.in_(["2024", "2025"]))).all()
        changed = {f.period for f in facts[:40]}
        for fact in facts[:40]:
            fact.households = (fact.households or 0) + 1
        db.session.commit()
        db.session.remove()
    jobs = _new_jobs(app, jobs_before)
    periods = sorted(j.args[3]["period"] for j in jobs)
    assert periods == sorted(changed) and len(facts[:40]) == 40


def test_set_rule_recomputes_every_computed_period_with_the_rule_of_each(app, county):
    tenant_id = county["tenant_id"]
    jobs_before = _job_ids(app)
    with app.app_context(), tenant_context(tenant_id):
        set_rule(position(tenant_id, "XGY"), "quota", "MAX(2, CEILING(计生常住人口 / 1500))", dt.date(2025, 1, 1))
        db.session.remove()
    jobs = _new_jobs(app, jobs_before)
    assert sorted(j.args[3]["period"] for j in jobs) == ["2024", "2025"]
    with app.app_context():
        assert quota_rows(tenant_id, "2025")[(VILLAGE, "XGY")].rule_formula == "MAX(2, CEILING(计生常住人口 / 1500))"
        assert quota_rows(tenant_id, "2024")[(VILLAGE, "XGY")].rule_version == 1  # earlier periods keep theirs


def test_a_formula_edited_on_the_position_api_becomes_a_version_from_today(app, county, client, time_machine):
    time_machine.move_to(dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC), tick=False)  # after the demo's periods
    tenant_id = county["tenant_id"]
    login(client, "ss_auto_admin")
    jobs_before = _job_ids(app)
    resp = client.put(f"/api/v1/position/{_position_id(app, tenant_id, 'XGY')}", json={"quota_formula": "3"})
    assert resp.status_code == 200, resp.get_json()
    jobs = _new_jobs(app, jobs_before)
    assert sorted(j.args[3]["period"] for j in jobs) == ["2024", "2025"]
    with app.app_context(), tenant_context(tenant_id):
        latest = db.session.scalars(select(PositionRule).where(PositionRule.kind == "quota")
                                    .order_by(PositionRule.version.desc())).first()
        assert (latest.formula, latest.effective_from) == ("3", dt.date(2026, 3, 2))

"""Recompute as a whole: one transaction, tenant isolation, NULL quotas reported, CLI and job paths."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select
from staffing_support import edit_population, load, position, quota_rows, raw_quota_rows, recompute

from app.cli import _register_commands
from app.cli import cli as countydesk
from app.core.errors import ScopeDenied
from app.core.tenancy import tenant_context
from app.extensions import db
from app.jobs.queue import wait_for
from app.orgs.models import OrgUnit
from app.staffing import quotas
from app.staffing.quotas import QuotaIncomplete, recompute_quotas
from app.staffing.rules import BEGINNING, RuleError, set_rule
from app.staffing.tasks import enqueue_recompute

DIVIDING = "CEILING(计生常住人口 / 户数 * 100)"


@pytest.fixture(autouse=True)
def explicit_recomputes_only(app, monkeypatch):
    """These tests time and snapshot their own recomputes: no automatic job (a real worker would race them)."""
    monkeypatch.setitem(app.config, "STAFFING_AUTO_RECOMPUTE", False)


@pytest.fixture
def run(app):
    _register_commands()
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(countydesk, list(args))


def test_recomputing_one_tenant_never_touches_another(app, demo):
    ids = demo["tenant_ids"]
    with app.app_context():
        recompute(ids["guanling"], "2025")
        theirs = raw_quota_rows(ids["guanling"])
        assert theirs
        report = recompute(ids["shishi"], "2025")
        assert report.tenant_ids == [ids["shishi"]] and report.rows == 120
        assert raw_quota_rows(ids["guanling"]) == theirs
        codes = {code for code, _ in quota_rows(ids["shishi"], "2025")}
    assert codes and all(code.startswith("350581") for code in codes)


def test_recompute_needs_a_tenant_and_a_writer(app, demo):
    with app.app_context():
        with pytest.raises(ScopeDenied):
            recompute_quotas("2025")
        with tenant_context(demo["tenant_ids"]["shishi"], read_only=True), pytest.raises(ScopeDenied):
            recompute_quotas("2025")
        with pytest.raises(RuleError):
            recompute(demo["tenant_ids"]["shishi"], "2025-13")


def test_a_division_by_zero_is_reported_and_strict_mode_saves_nothing(app, copy_tenant):
    folder = copy_tenant("shishi", "ss_div")
    village = "350581001003"
    edit_population(folder, village, "2025", households=0)
    with app.app_context():
        tenant_id = load(folder)
        recompute(tenant_id, "2025")
        before = raw_quota_rows(tenant_id)
        with tenant_context(tenant_id):
            set_rule(position(tenant_id, "XGY"), "quota", DIVIDING, BEGINNING)
        with pytest.raises(QuotaIncomplete) as err:
            recompute(tenant_id, "2025", strict=True)
        assert "1行无法计算定额" in err.value.message
        assert raw_quota_rows(tenant_id) == before  # nothing saved
        report = recompute(tenant_id, "2025")
        rows = quota_rows(tenant_id, "2025")
    assert report.null_count == 1
    [null] = report.null_quotas
    assert (null.org_code, null.position_code) == (village, "XGY")
    assert null.reason.startswith("无法计算") and "除" in null.reason
    broken = rows[(village, "XGY")]
    assert broken.quota is None and broken.vacant is None and broken.over is None
    assert broken.inputs["households"] == 0
    town, county = rows[("350581001", "XGY")], rows[("350581", "XGY")]
    assert town.quota is None and county.quota is None  # a rollup with an unknown child is unknown
    assert town.staffed == sum(r.staffed for r in rows.values() if r.parent_code == "350581001")
    assert rows[("350581002", "XGY")].quota is not None


def test_a_failure_half_way_leaves_the_previous_figures(app, copy_tenant, monkeypatch):
    folder = copy_tenant("guanling", "gl_fail")
    with app.app_context():
        tenant_id = load(folder)
        recompute(tenant_id, "2025")
        before = raw_quota_rows(tenant_id)

        with tenant_context(tenant_id):  # a new rule: the recompute below writes every row of RKZR
            set_rule(position(tenant_id, "RKZR"), "quota", "7", BEGINNING)

        def boom(*args, **kwargs):
            raise RuntimeError("数据库连接中断")

        with monkeypatch.context() as patch, pytest.raises(RuntimeError):
            patch.setattr(quotas, "collect_nulls", boom)  # fails after the rows were written
            recompute(tenant_id, "2025")
        assert raw_quota_rows(tenant_id) == before
        report = recompute(tenant_id, "2025")
        assert report.changed and raw_quota_rows(tenant_id) != before


def test_missing_population_is_reported_not_guessed(app, demo):
    with app.app_context():
        report = recompute(demo["tenant_ids"]["shishi"], "2019")
        rows = quota_rows(demo["tenant_ids"]["shishi"], "2019")
    assert report.null_count == 120 and report.null_quotas[0].reason == "缺少本期人口数据"
    assert all(r.quota is None for r in rows.values())


def test_a_month_is_judged_on_its_last_day_with_the_years_population(app, demo):
    """GL: 520424101209's director was dismissed on 2024-10-09 and replaced on 2025-02-06."""
    ids = demo["tenant_ids"]
    with app.app_context():
        staffed = {}
        for period in ("2024-09", "2024-10", "2024", "2025-01", "2025-02", "2025"):
            recompute(ids["guanling"], period)
            row = quota_rows(ids["guanling"], period)[("520424101209", "RKZR")]
            staffed[period] = row.staffed
            assert row.inputs["fact_period"] == period[:4]
    assert staffed == {"2024-09": 1, "2024-10": 0, "2024": 0, "2025-01": 0, "2025-02": 1, "2025": 1}


def test_cli_recompute_and_csv_report(app, demo, run):
    done = run("staffing", "recompute", "--tenant", "shishi", "--period", "2025")
    assert done.exit_code == 0, done.output
    assert "2025：按1条规则计算了120个单位的定额" in done.output
    result = run("staffing", "report", "--tenant", "shishi", "--period", "2025", "--format", "csv")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "org_code,org_name,position,quota,staffed,vacant"
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert rows[0]["org_code"] == "350581" and rows[0]["org_name"] == "石狮市"
    assert "350581106212,外高村,村级计生社保协管员,1,1,0" in lines  # SS-1: 800 resident → 1
    assert not any(r["org_code"].startswith("520424") for r in rows)
    with app.app_context(), tenant_context(demo["tenant_ids"]["shishi"]):
        paths = dict(db.session.execute(select(OrgUnit.code, OrgUnit.path)).tuples().all())
    assert [paths[r["org_code"]] for r in rows] == sorted(paths[r["org_code"]] for r in rows)


def test_cli_errors_are_plain_chinese(app, demo, run):
    assert "--all-tenants" in run("staffing", "recompute", "--period", "2025").output
    assert "「nowhere」不存在" in run("staffing", "recompute", "--tenant", "nowhere", "--period", "2025").output
    assert "格式不对" in run("staffing", "report", "--tenant", "shishi", "--period", "2025-13").output
    bad = run("staffing", "set-rule", "--tenant", "shishi", "--position", "XGY", "--from", "2030-01-01", "人品 / 3")
    assert bad.exit_code != 0 and "未知变量「人品」" in bad.output


def test_cli_all_tenants(app, demo, run):
    result = run("staffing", "recompute", "--all-tenants", "--period", "2025")
    assert result.exit_code == 0, result.output
    with app.app_context():
        for tenant_id in demo["tenant_ids"].values():
            assert raw_quota_rows(tenant_id)


def test_recompute_runs_as_a_job_with_progress(app, copy_tenant):
    folder = copy_tenant("guanling", "gl_staff_job")
    with app.app_context():
        tenant_id = load(folder)
        job = enqueue_recompute("2025", tenant_id=tenant_id)
        assert wait_for(job) == "finished", job.latest_result()
        job.refresh()
        assert job.meta["tenant_id"] == tenant_id
        assert job.meta["done"] == job.meta["total"] and "2025" in job.meta["message"]
        # 300 village rows (100 villages × RKZR, YFZZ, TGJSY) + 13 towns × 4 town posts
        assert job.return_value()["rows"] == 352 and job.return_value()["null_count"] == 0
        db.session.remove()
        rows = quota_rows(tenant_id, "2025")
    assert rows[("520424", "JSBGW")].quota == 39 and rows[("520424", "JSBSY")].quota == 26


def test_a_job_for_every_tenant_and_a_failing_job(app, demo):
    with app.app_context():
        job = enqueue_recompute("2025-06", tenant_id=None, all_tenants=True)
        assert wait_for(job) == "finished", job.latest_result()
        db.session.remove()
        for tenant_id in demo["tenant_ids"].values():
            assert quota_rows(tenant_id, "2025-06")
        bad = enqueue_recompute("2025-13", tenant_id=demo["tenant_ids"]["shishi"])
        assert wait_for(bad) == "failed"



def test_deleting_a_position_drops_its_quota_rows(app, copy_tenant):
    folder = copy_tenant("guanling", "gl_drop")
    with app.app_context():
        tenant_id = load(folder)
        recompute(tenant_id, "2025")
        with tenant_context(tenant_id):
            tgjsy = position(tenant_id, "TGJSY")
            gone = tgjsy.id
            db.session.delete(tgjsy)
            db.session.commit()
        rows = raw_quota_rows(tenant_id)
    assert rows and all(row.position_id != gone for row in rows)

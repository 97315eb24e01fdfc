"""Escalation is a notice to the next level up (督办), and term expiry runs daily from the tick (GL-3, SS-3, SS-5).

The people who must act see the case with its due date; when it is missed, the next org level up
sees it in a 督办 list until someone acts on the case.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from wf_support import as_user, serving, start_gl_vacancy

from app.core.tenancy import tenant_context
from app.extensions import db
from app.workflows import services, timers
from app.workflows.models import WorkflowDailyCheck, WorkflowInstance, WorkflowNotice, WorkflowStep
from app.workflows.timers import fire_all_tenants, fire_due, register_daily_check, run_daily_checks
from support import is_postgres, login

GL_VILLAGE = "520424001001"
SS_VILLAGE = "350581001001"
TODAY = dt.date(2040, 1, 1)  # no demo appointment ends near then


def _tenant_id(slug: str) -> int:
    from app.core.models import Tenant

    tenant_id = db.session.scalar(select(Tenant.id).where(Tenant.slug == slug))
    db.session.rollback()
    assert tenant_id is not None
    return tenant_id


# -- GL-3: the missed 2-month refill goes before the county -------------------------------------

def test_gl3_missed_refill_deadline_is_a_notice_for_the_county_until_refilled(app, wf):
    with app.app_context():
        # far ahead: the real worker's tick (PostgreSQL/Redis run) fires by the real clock, not before the test
        inst_id = start_gl_vacancy(dt.datetime(2040, 12, 31, 9, 0))
        with as_user("gl_admin") as admin:
            assert services.inbox(admin).notices == []
            assert fire_due(dt.datetime(2041, 2, 28, 9, 0)).escalated == 1
            assert fire_due(dt.datetime(2041, 3, 5)).escalated == 0  # the timer firing again adds nothing
            [item] = services.inbox(admin).notices
            assert item.instance.id == inst_id and item.state_label == "代理中（2个月内补选）"
            assert "「岗位空缺补选」「代理中（2个月内补选）」环节已逾期（期限 2041-02-28 09:00）" in item.notice.message
            assert db.session.scalar(select(func.count()).select_from(WorkflowNotice)) == 1
            [step] = db.session.scalars(select(WorkflowStep).where(WorkflowStep.action == "escalate")).all()
            assert "提请上一级督办" in step.comment and "县管理员" in step.comment
        with as_user("gl_town") as town:  # the town that missed it is not its own supervisor
            assert services.inbox(town).notices == []
        with as_user("ss_admin") as other:
            assert services.inbox(other).notices == []
    county = login(app.test_client(), "gl_admin")
    page = county.get("/workflows/").get_data(as_text=True)
    assert "督办事项" in page and f"/workflows/case/{inst_id}" in page
    assert "督办事项" not in login(app.test_client(), "ss_admin").get("/workflows/").get_data(as_text=True)
    with app.app_context():
        with as_user("gl_town") as town:
            services.act(inst_id, "refill", actor=town, data={"new_person": "韦新"})
            town_id = town.user_id
        with as_user("gl_admin") as admin:
            assert services.inbox(admin).notices == []
            notice = db.session.scalars(select(WorkflowNotice)).one()
            assert notice.resolved_at is not None and notice.resolved_by == town_id
    assert "督办事项" not in county.get("/workflows/").get_data(as_text=True)


# -- term expiry: a daily check of the tick -----------------------------------------------------

def test_gl3_renewal_reminder_reaches_the_town_clerks_inbox_with_the_term_end(app, people):
    from app.cli import _register_commands
    from app.cli import cli as countydesk

    with app.app_context():
        pid = serving(people, "gl_admin", GL_VILLAGE, "RKZR", dt.date(2040, 2, 15), name="续聘人")
    _register_commands()
    runner = app.test_cli_runner()
    result = runner.invoke(countydesk, ["workflows", "tick", "--tenant", "guanling", "--now", "2040-01-01T08:00"])
    assert result.exit_code == 0, result.output
    assert "每日检查：聘期到期 1 件" in result.output
    again = runner.invoke(countydesk, ["workflows", "tick", "--tenant", "guanling", "--now", "2040-01-01T18:00"])
    assert "每日检查" not in again.output  # once a day
    with app.app_context():
        with as_user("gl_town") as town:
            [item] = [i for i in services.inbox(town).items if i.instance.person_id == pid]
            assert item.definition.name == "人口主任续聘" and item.due_text == "2040-02-15"
            assert [t.label for t in item.actions] == ["续聘", "不再续聘"]
    page = login(app.test_client(), "gl_town").get("/workflows/").get_data(as_text=True)
    assert "续聘人" in page and "2040-02-15" in page
    # the term ends with no decision: the county is asked to follow it up
    with app.app_context():
        with as_user("gl_admin") as admin:
            assert fire_due(dt.datetime(2040, 2, 15, 23, 59)).escalated == 0
            assert fire_due(dt.datetime(2040, 2, 16)).escalated == 1
            [notice] = services.inbox(admin).notices
            assert notice.instance.person_id == pid and notice.due_text == "2040-02-15"


def test_ss5_village_misses_the_new_round_and_its_town_is_told(app, people):
    with app.app_context():
        pid = serving(people, "ss_admin", SS_VILLAGE, "XGY", dt.date(2040, 3, 1), name="到期人")
        with tenant_context(_tenant_id("shishi")):
            report = run_daily_checks(TODAY)
        # SS-5 a new round for the post and SS-7 the term-end appraisal of the person, both from the daily checks
        assert report.daily == {"聘期到期": 1, "聘期考核": 1}
        with as_user("ss_village") as village:
            [item] = [i for i in services.inbox(village).items
                      if i.instance.person_id == pid and i.instance.definition_code == "recruitment"]
            assert item.state.label == "村委会推荐" and item.due_text == "2040-03-01"
        with as_user("ss_admin"):
            assert fire_due(dt.datetime(2040, 3, 2)).escalated >= 1
        with as_user("ss_town") as town:  # the village's step: its town follows it up
            [notice] = [n for n in services.inbox(town).notices if n.instance.definition_code == "recruitment"]
            assert notice.instance.person_id == pid and "协管员选聘" in notice.notice.message
        with as_user("ss_admin") as admin:
            assert [n for n in services.inbox(admin).notices if n.instance.definition_code == "recruitment"] == []


# -- the daily-check registry -------------------------------------------------------------------

@pytest.fixture
def probe(app, wf) -> Iterator[list[tuple[int | None, dt.date]]]:
    """A daily check that records each call (county, day)."""
    from app.core.tenancy import current_tenant_id

    calls: list[tuple[int | None, dt.date]] = []

    def check(today: dt.date) -> int:
        calls.append((current_tenant_id(), today))
        return 2

    register_daily_check(check, "test_probe", "探针")
    yield calls
    timers._DAILY_CHECKS.pop("test_probe", None)


def test_daily_checks_run_once_a_day_in_every_county(app, probe):
    with app.app_context():
        from app.core.models import Tenant

        tenants = set(db.session.scalars(select(Tenant.id)))
        db.session.rollback()
        first = fire_all_tenants(dt.datetime(2040, 1, 1, 0, 5))
        assert {t for t, _ in probe} == tenants and len(probe) == len(tenants)
        assert first.daily["探针"] == 2 * len(tenants)
        assert "探针" not in fire_all_tenants(dt.datetime(2040, 1, 1, 23, 0)).daily
        fire_all_tenants(dt.datetime(2040, 1, 2, 0, 5))
        assert len(probe) == 2 * len(tenants) and probe[-1][1] == dt.date(2040, 1, 2)


def test_a_failing_daily_check_is_recorded_and_does_not_stop_the_others(app, probe):
    def broken(today: dt.date) -> int:
        raise RuntimeError("配置有误")

    register_daily_check(broken, "test_broken", "坏检查")
    try:
        with app.app_context():
            with tenant_context(_tenant_id("shishi")):
                report = run_daily_checks(TODAY)
                assert report.daily.get("探针") == 2 and any("配置有误" in e for e in report.errors)
                row = db.session.scalars(select(WorkflowDailyCheck)
                                         .where(WorkflowDailyCheck.name == "test_broken")).one()
                assert row.last_day == TODAY and "配置有误" in row.error
    finally:
        timers._DAILY_CHECKS.pop("test_broken", None)


@pytest.mark.skipif(not is_postgres(), reason="real concurrency needs PostgreSQL (SQLite serialises writers)")
def test_two_ticks_at_once_run_a_daily_check_once(app, probe):
    with app.app_context():
        tenant_id = _tenant_id("guanling")
    barrier = threading.Barrier(2)

    def run() -> None:
        with app.app_context(), tenant_context(tenant_id):
            barrier.wait()
            run_daily_checks(TODAY)
            time.sleep(0.2)
            db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert probe == [(tenant_id, TODAY)]


def test_term_cases_opened_by_the_tick_are_system_cases_anyone_may_act_on(app, people):
    """No self-approval trap: a case the tick opened has no submitting user."""
    with app.app_context():
        serving(people, "gl_admin", GL_VILLAGE, "RKZR", dt.date(2040, 2, 1))
        with tenant_context(_tenant_id("guanling")):
            run_daily_checks(TODAY)
        with as_user("gl_admin"):
            [case] = db.session.scalars(select(WorkflowInstance).where(WorkflowInstance.definition_code == "renewal"))
            assert case.created_by is None and case.last_user_id is None
            assert case.due_at == dt.datetime(2040, 2, 2)

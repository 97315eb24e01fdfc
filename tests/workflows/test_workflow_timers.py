"""Timers: the 7-day 公示 (SS-5) and the SS-7 deadlines fire exactly once, by tick, CLI or a real worker."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time

import pytest
from sqlalchemy import select, update
from wf_support import as_user, person_under

from app.extensions import db
from app.workflows import services
from app.workflows.models import WorkflowInstance, WorkflowStep
from app.workflows.timers import fire_due
from support import is_postgres

VILLAGE = "350581001001"
T0 = dt.datetime(2025, 5, 6, 9, 30)


def _in_publicity() -> int:
    """A recruitment case that entered the 7-day 公示 at T0."""
    with as_user("ss_admin") as admin:
        inst = services.start("recruitment", actor=admin, person_id=person_under(VILLAGE),
                              data={"position_code": "XGY"}, now=T0 - dt.timedelta(days=1))
        db.session.execute(update(WorkflowInstance).where(WorkflowInstance.id == inst.id)
                           .values(state="county_review", last_user_id=None))
        db.session.commit()
        services.act(inst.id, "county_approve", actor=admin, party="人社局", now=T0)
        services.act(inst.id, "county_approve", actor=admin, party="计生协会", now=T0)
        return inst.id


def _steps(inst_id: int, action: str) -> list[WorkflowStep]:
    return list(db.session.scalars(select(WorkflowStep).where(WorkflowStep.instance_id == inst_id,
                                                              WorkflowStep.action == action)))


def test_ss5_publicity_lasts_7_days_then_moves_on_exactly_once(app, wf):
    with app.app_context():
        inst_id = _in_publicity()
        with as_user("ss_admin"):
            inst = db.session.get(WorkflowInstance, inst_id)
            assert (inst.state, inst.due_at) == ("publicity", T0 + dt.timedelta(days=7))
            assert fire_due(T0 + dt.timedelta(days=6, hours=23)).moved == 0
            first = fire_due(T0 + dt.timedelta(days=7))
            second = fire_due(T0 + dt.timedelta(days=7, minutes=1))
            assert (first.moved, second.moved) == (1, 0)
            inst = db.session.get(WorkflowInstance, inst_id)
            assert inst.state == "approval_form" and inst.due_at is None
            [step] = _steps(inst_id, "publicity_passed")
            assert step.user_id is None and "期满" in step.comment


def _appraisal_in_recheck() -> int:
    with as_user("ss_admin") as admin:
        inst = services.start("appraisal", actor=admin, person_id=person_under(VILLAGE), cycle_year=2025,
                              now=dt.datetime(2025, 1, 5))
        db.session.execute(update(WorkflowInstance).where(WorkflowInstance.id == inst.id).values(
            state="county_recheck", due_at=dt.datetime(2025, 11, 16), last_user_id=None))
        db.session.commit()
        return inst.id


def test_ss7_county_recheck_deadline_15_november_escalates_once(app, wf):
    with app.app_context():
        inst_id = _appraisal_in_recheck()
        with as_user("ss_admin") as admin:
            assert fire_due(dt.datetime(2025, 11, 15, 23, 59)).escalated == 0  # 15 Nov still in time
            assert fire_due(dt.datetime(2025, 11, 16)).escalated == 1
            assert fire_due(dt.datetime(2025, 11, 20)).escalated == 0
            inst = db.session.get(WorkflowInstance, inst_id)
            assert inst.overdue and inst.state == "county_recheck"
            [step] = _steps(inst_id, "escalate")
            assert "已逾期" in step.comment and "2025-11-15" in step.comment
            assert services.inbox(admin).overdue == 1
            # acting on it clears the overdue mark
            services.act(inst_id, "confirm", actor=admin, data={"grade": "合格"}, now=dt.datetime(2025, 11, 21))
            assert db.session.get(WorkflowInstance, inst_id).overdue is False


def test_tick_command_fires_what_is_due(app, wf):
    from app.cli import _register_commands
    from app.cli import cli as countydesk

    _register_commands()
    with app.app_context():
        inst_id = _in_publicity()
    runner = app.test_cli_runner()
    result = runner.invoke(countydesk, ["workflows", "tick", "--tenant", "shishi", "--now", "2025-05-13T09:30"])
    assert result.exit_code == 0, result.output
    assert "已到期流转 1 件" in result.output
    again = runner.invoke(countydesk, ["workflows", "tick", "--now", "2025-05-13T10:00"])
    assert "已到期流转 0 件" in again.output
    bad = runner.invoke(countydesk, ["workflows", "tick", "--now", "下周"])
    assert bad.exit_code != 0 and "格式不正确" in bad.output
    with app.app_context(), as_user("ss_admin"):
        assert db.session.get(WorkflowInstance, inst_id).state == "approval_form"


@pytest.mark.skipif(not is_postgres(), reason="real concurrency needs PostgreSQL (SQLite serialises writers)")
def test_two_concurrent_timer_runs_fire_once(app, wf):
    with app.app_context():
        inst_id = _in_publicity()
    results: list[int] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        with app.app_context(), as_user("ss_admin"):
            barrier.wait()
            results.append(fire_due(T0 + dt.timedelta(days=8)).moved)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [0, 1]
    with app.app_context(), as_user("ss_admin"):
        assert len(_steps(inst_id, "publicity_passed")) == 1


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis and the rq worker bin/test starts")
def test_real_worker_scheduler_fires_a_scheduled_timer(app, wf):
    """The due time is in the database; a job on RQ's scheduler calls fire_due (SS-5 公示)."""
    from app.workflows.timers import schedule_tick

    with app.app_context():
        inst_id = _in_publicity()
        with as_user("ss_admin"):  # the 公示 ended a while ago
            db.session.execute(update(WorkflowInstance).where(WorkflowInstance.id == inst_id)
                               .values(due_at=dt.datetime.now() - dt.timedelta(minutes=5)))
            db.session.commit()
        job = schedule_tick(at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))
        assert job.get_status(refresh=True) == "scheduled"
        deadline = time.monotonic() + 60
        state = "publicity"
        while time.monotonic() < deadline and state == "publicity":
            time.sleep(0.5)
            with as_user("ss_admin"):
                state = db.session.scalar(select(WorkflowInstance.state).where(WorkflowInstance.id == inst_id))
        assert state == "approval_form"


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis and the rq worker bin/test starts")
def test_the_tick_is_one_chain_however_often_it_is_scheduled(app, wf):
    """A worker starting while a tick runs, `workflows schedule`, an old random-id chain: one tick remains."""
    from rq.job import Job

    from app.jobs.queue import get_queue
    from app.workflows.timers import (
        TICK_FUNC,
        TICK_JOB_ID,
        TICK_SECONDS,
        ensure_tick_scheduled,
        schedule_tick,
        tick_chain,
    )

    with app.app_context():
        queue = get_queue("default")
        ensure_tick_scheduled()  # the test worker did this when it started
        assert ensure_tick_scheduled() is False
        schedule_tick()
        schedule_tick()
        queue.enqueue_in(dt.timedelta(hours=1), TICK_FUNC, 60)  # a chain an earlier version left behind
        assert len(tick_chain()) == 2
        assert ensure_tick_scheduled() is False
        assert tick_chain() == [TICK_JOB_ID]
        # the real worker runs it; RQ puts the same job back for the next minute: still one chain
        asked = dt.datetime.now(dt.UTC)
        schedule_tick(at=asked + dt.timedelta(seconds=1))
        deadline = time.monotonic() + 60
        ran = None
        while time.monotonic() < deadline:
            time.sleep(0.5)
            result = Job.fetch(TICK_JOB_ID, connection=queue.connection).latest_result()
            if result is not None and result.created_at.replace(tzinfo=dt.UTC) > asked:
                ran = result
                break
        assert ran is not None, "the worker did not run the tick"
        assert "moved" in ran.return_value
        assert tick_chain() == [TICK_JOB_ID]
        job = Job.fetch(TICK_JOB_ID, connection=queue.connection)
        assert job.get_status() == "scheduled" and job.repeat_intervals == [TICK_SECONDS]
        next_at = queue.scheduled_job_registry.get_scheduled_time(TICK_JOB_ID)
        assert next_at > dt.datetime.now(dt.UTC) + dt.timedelta(seconds=TICK_SECONDS - 15)

"""Timers: the 7-day 公示 (SS-5) and the SS-7 deadlines fire exactly once, by tick, CLI or a real worker."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
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
            for party in ("市卫健局", "市人社局", "市计生协会"):  # SS-7: the three departments' joint recheck
                services.act(inst_id, "confirm", actor=admin, party=party, data={"grade": "合格", "score": 80},
                             now=dt.datetime(2025, 11, 21))
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


def _restart_redis_url() -> str:
    """A Redis database for this test's own workers only, so stopping one leaves no other worker serving it.

    ``COUNTYDESK_TEST_RESTART_REDIS_URL`` names it; by default the mirror of ``REDIS_URL``'s database
    (1 → 14), never the one the suite's worker uses. The test empties it before and after.
    """
    from urllib.parse import urlsplit, urlunsplit

    explicit = os.environ.get("COUNTYDESK_TEST_RESTART_REDIS_URL")
    if explicit:
        return explicit
    url = urlsplit(os.environ["REDIS_URL"])
    db_number = int(url.path.strip("/") or 0)
    return urlunsplit(url._replace(path=f"/{15 - db_number}"))


def _start_worker(app, redis_url: str) -> subprocess.Popen[bytes]:
    """`countydesk worker` as a deployment runs it, on this test's database, ticking every second."""
    env = dict(os.environ, REDIS_URL=redis_url, COUNTYDESK_DAILY_CHECKS="0", COUNTYDESK_TICK_SECONDS="1",
               DATABASE_URL=os.environ.get("DATABASE_URL") or str(app.config["SQLALCHEMY_DATABASE_URI"]))
    exe = shutil.which("countydesk") or os.path.join(os.path.dirname(sys.executable), "countydesk")
    return subprocess.Popen([exe, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (RQ's warm shutdown, what a service manager sends on restart); the whole group if it hangs."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):  # the scheduler child, should it outlive its worker
        os.killpg(proc.pid, signal.SIGKILL)


def _wait(what: str, check, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.skipif(not (os.environ.get("COUNTYDESK_TEST_WORKER") and os.environ.get("REDIS_URL")),
                    reason="no worker to restart: jobs run inline without Redis (the PostgreSQL + Redis run covers it)")
def test_timers_survive_a_worker_restart_and_fire_once(app, wf):
    """Issue: timers run on RQ's scheduler with a real worker and survive a worker restart (SS-5 公示).

    A worker schedules the tick and runs it; it is stopped; the 公示 falls due while no worker runs;
    a new worker process picks the same chain up and the case moves on once, never twice.
    """
    import redis
    from rq import Queue, Worker
    from rq.job import Job

    from app.workflows.timers import TICK_JOB_ID, tick_chain

    url = _restart_redis_url()
    conn = redis.Redis.from_url(url)
    conn.flushdb()
    queue = Queue("default", connection=conn)

    def ran_since(moment: dt.datetime):
        result = Job.fetch(TICK_JOB_ID, connection=conn).latest_result() if conn.exists(f"rq:job:{TICK_JOB_ID}") \
            else None
        return result is not None and result.created_at.replace(tzinfo=dt.UTC) > moment and result

    with app.app_context():
        inst_id = _in_publicity()
        with as_user("ss_admin"):  # not due yet
            db.session.execute(update(WorkflowInstance).where(WorkflowInstance.id == inst_id)
                               .values(due_at=dt.datetime.now() + dt.timedelta(days=1)))
            db.session.commit()
    workers: list[subprocess.Popen[bytes]] = []
    try:
        first_started = dt.datetime.now(dt.UTC)
        workers.append(_start_worker(app, url))
        _wait("the first worker's tick", lambda: ran_since(first_started))
        assert tick_chain(queue) == [TICK_JOB_ID]
        _stop(workers[0])
        assert workers[0].returncode is not None
        _wait("the stopped worker to deregister", lambda: not Worker.all(connection=conn), timeout=30)
        assert tick_chain(queue) == [TICK_JOB_ID]  # the chain outlives the worker that scheduled it

        with app.app_context(), as_user("ss_admin"):  # the 公示 ends while no worker runs
            db.session.execute(update(WorkflowInstance).where(WorkflowInstance.id == inst_id)
                               .values(due_at=dt.datetime.now() - dt.timedelta(minutes=5)))
            db.session.commit()
            assert db.session.get(WorkflowInstance, inst_id).state == "publicity"

        second_started = dt.datetime.now(dt.UTC)
        workers.append(_start_worker(app, url))

        def moved() -> bool:
            with app.app_context(), as_user("ss_admin"):
                return db.session.scalar(select(WorkflowInstance.state).where(WorkflowInstance.id == inst_id)) \
                    == "approval_form"

        _wait("the due 公示 to move on after the restart", moved)
        _wait("the new worker's tick", lambda: ran_since(second_started))
        settled = dt.datetime.now(dt.UTC)
        _wait("two more ticks", lambda: ran_since(settled + dt.timedelta(seconds=1)))
        with app.app_context(), as_user("ss_admin"):
            assert len(_steps(inst_id, "publicity_passed")) == 1  # once, however many ticks ran
        assert tick_chain(queue) == [TICK_JOB_ID]
        assert [w.pid for w in Worker.all(connection=conn)] == [workers[1].pid]
    finally:
        for proc in workers:
            _stop(proc)
        conn.flushdb()

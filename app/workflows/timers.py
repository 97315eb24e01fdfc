"""Timers and daily checks: the due time lives in the database; the tick moves what is due.

A state's timer gives each case a ``due_at`` when it enters the state. ``fire_due(now)`` takes
the state's ``on_timeout`` transition, or escalates: the case is marked overdue, its history
says so, and a 督办 notice goes to the next org level up (``app.workflows.notices``). A case may
also carry a due date its state has no timer for (a term-expiry case is due when the term ends):
missing it escalates the same way. Each case is changed by a conditional UPDATE on its
``row_version``, so two concurrent calls (a CLI tick and the scheduler, or two workers) fire it
exactly once.

Daily checks (``register_daily_check``) are functions ``fn(today) -> int`` run once a day per
county inside its scope — term expiry is one. The tick runs them; the day each last ran for a
county is claimed in ``workflow_daily_check`` before it runs, so two ticks never both run it.

With Redis the tick is one RQ job with a fixed id repeated by RQ (``Repeat``) on the worker's
scheduler. Scheduling it again — a second worker starting, ``countydesk workflows schedule`` —
replaces that job instead of adding a second chain. A restarted worker schedules it again if it
was lost; a missed tick only delays: nothing is lost.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.core import clock
from app.core.tenancy import current_tenant_id, tenant_context
from app.extensions import db
from app.workflows.models import WorkflowDailyCheck, WorkflowInstance, WorkflowStep

log = logging.getLogger("countydesk.workflows")

TICK_SECONDS = 60
TICK_FUNC = "app.workflows.timers.tick_job"
TICK_JOB_ID = "countydesk-workflows-tick"
"""One id for every county and worker: scheduling the tick again replaces it, never adds a chain."""
TICK_REPEATS = 1_000_000_000
"""RQ repeats a job a given number of times; at one tick a minute this is about nineteen centuries."""


@dataclass
class FireReport:
    moved: int = 0
    escalated: int = 0
    lost_race: int = 0
    """Cases another caller fired first (counted, not fired again)."""
    instance_ids: list[int] = field(default_factory=list)
    daily: dict[str, int] = field(default_factory=dict)
    """Daily checks that ran in this call: label -> what each reported (e.g. cases opened)."""
    errors: list[str] = field(default_factory=list)

    def add(self, other: FireReport) -> None:
        self.moved += other.moved
        self.escalated += other.escalated
        self.lost_race += other.lost_race
        self.instance_ids += other.instance_ids
        for label, n in other.daily.items():
            self.daily[label] = self.daily.get(label, 0) + n
        self.errors += other.errors


# -- timers ------------------------------------------------------------------------------------

def fire_due(now: dt.datetime | None = None) -> FireReport:
    """Fire every due timer of the current tenant; commits per case."""
    from app.workflows.acting import _move
    from app.workflows.actors import SYSTEM
    from app.workflows.catalog import load_definition
    from app.workflows.definition import ESCALATE

    now = now or clock.server_now().replace(microsecond=0)
    session = db.session
    report = FireReport()
    due = session.execute(select(WorkflowInstance.id).where(
        WorkflowInstance.due_at.is_not(None), WorkflowInstance.due_at <= now,
        WorkflowInstance.overdue.is_(False)).order_by(WorkflowInstance.due_at, WorkflowInstance.id)).scalars().all()
    for inst_id in due:
        inst = session.get(WorkflowInstance, inst_id)
        if inst is None or inst.due_at is None or inst.due_at > now or inst.overdue:
            continue
        definition = load_definition(inst.definition_code, inst.definition_version)
        state = definition.state(inst.state)
        if state.final:
            continue
        if state.timer is None or state.timer.on_timeout == ESCALATE:
            ok = _escalate(inst, definition, state.label, now)
            report.escalated += ok
        else:
            transition = definition.transition(state.timer.on_timeout)
            step = _move(session, inst, definition, transition, SYSTEM.user_id,
                         f"「{state.label}」期满，自动{transition.label}", dict(inst.data or {}), now)
            ok = step is not None
            report.moved += ok
        if ok:
            report.instance_ids.append(inst_id)
            session.commit()
        else:
            report.lost_race += 1
            session.rollback()
    return report


def due_text(due_at: dt.datetime | None) -> str:
    """A due time as people say it: a calendar deadline is due at the start of the next day → its last day."""
    if due_at is None:
        return ""
    if due_at.time() == dt.time():
        return (due_at - dt.timedelta(days=1)).strftime("%Y-%m-%d")
    return due_at.strftime("%Y-%m-%d %H:%M")


def _escalate(inst: WorkflowInstance, definition: Any, state_label: str, now: dt.datetime) -> bool:
    from app.orgs.models import OrgUnit
    from app.security.roles import ROLES
    from app.workflows.notices import raise_escalation

    session = db.session
    result = session.execute(
        update(WorkflowInstance)
        .where(WorkflowInstance.id == inst.id, WorkflowInstance.row_version == inst.row_version,
               WorkflowInstance.overdue.is_(False))
        .values(overdue=True, row_version=inst.row_version + 1)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.expire(inst)
        return False
    due = due_text(inst.due_at)
    notice = raise_escalation(inst, definition, state_label, due, now, session)
    target = session.get(OrgUnit, notice.target_org_id)
    role = ROLES[notice.target_role].name if notice.target_role in ROLES else notice.target_role
    session.add(WorkflowStep(instance_id=inst.id, org_unit_id=inst.org_unit_id, seq=inst.step_seq,
                             from_state=inst.state, to_state=inst.state, action="escalate", user_id=None, at=now,
                             comment=f"「{state_label}」已逾期（期限 {due}），已标记逾期并提请上一级督办"
                                     f"（{target.name if target else ''}{role}）",
                             data=None))
    session.expire(inst)
    session.flush()
    return True


# -- daily checks ------------------------------------------------------------------------------

DailyCheck = Callable[[dt.date], int]


@dataclass(frozen=True)
class _Check:
    name: str
    label: str
    fn: DailyCheck


_DAILY_CHECKS: dict[str, _Check] = {}
_builtin_registered = False


def register_daily_check(fn: DailyCheck, name: str | None = None, label: str | None = None) -> DailyCheck:
    """Run ``fn(today)`` once a day for every county, inside its scope; it returns how much it did.

    ``fn`` must be idempotent (a day may be retried after a crash) and commit its own work.
    ``name`` keys the last-run bookkeeping (default: the function's dotted path); ``label`` is
    what the CLI prints. Registering the same name again replaces the check.
    """
    key = (name or f"{fn.__module__}.{fn.__qualname__}")[:128]
    _DAILY_CHECKS[key] = _Check(key, label or key, fn)
    return fn


def _register_builtin_checks() -> None:
    """The engine's own daily checks; imported lazily (they import the engine)."""
    global _builtin_registered
    if _builtin_registered:
        return
    from app.workflows.appraisal import open_term_end_appraisals
    from app.workflows.terms import term_expiry_check

    register_daily_check(term_expiry_check, "terms", "聘期到期")
    register_daily_check(open_term_end_appraisals, "term_end_appraisals", "聘期考核")
    _builtin_registered = True


def daily_checks() -> list[_Check]:
    _register_builtin_checks()
    return list(_DAILY_CHECKS.values())


def run_daily_checks(today: dt.date | None = None) -> FireReport:
    """Every daily check not yet run on ``today`` (or later) for the current county; each once."""
    today = today or clock.server_today()
    report = FireReport()
    for check in daily_checks():
        if not _claim(check.name, today):
            continue
        result: int | None = None
        error: str | None = None
        try:
            result = int(check.fn(today) or 0)
            db.session.commit()
        except Exception as exc:  # one failing check must not stop the others or the timers
            db.session.rollback()
            log.exception("daily check %s failed for tenant %s", check.name, current_tenant_id())
            error = f"{type(exc).__name__}: {exc}"[:1000]
            report.errors.append(f"{check.label}：{error}")
        _record(check.name, result, error)
        if result is not None:
            report.daily[check.label] = report.daily.get(check.label, 0) + result
    return report


def _claim(name: str, today: dt.date) -> bool:
    """Mark ``name`` as run on ``today`` unless it already ran then (or later); True if this caller runs it."""
    session = db.session
    t = WorkflowDailyCheck.__table__
    tenant_id = current_tenant_id()
    now = clock.server_now().replace(microsecond=0)
    claimed = session.execute(t.update().where(t.c.tenant_id == tenant_id, t.c.name == name, t.c.last_day < today)
                              .values(last_day=today, ran_at=now, result=None, error=None))
    if claimed.rowcount == 1:  # type: ignore[attr-defined]
        session.commit()
        return True
    if session.execute(select(t.c.id).where(t.c.tenant_id == tenant_id, t.c.name == name)).first() is not None:
        session.rollback()
        return False
    try:
        session.execute(t.insert().values(tenant_id=tenant_id, name=name, last_day=today, ran_at=now))
        session.commit()
    except IntegrityError:  # another tick inserted it first
        session.rollback()
        return False
    return True


def _record(name: str, result: int | None, error: str | None) -> None:
    t = WorkflowDailyCheck.__table__
    db.session.execute(t.update().where(t.c.tenant_id == current_tenant_id(), t.c.name == name)
                       .values(result=result, error=error))
    db.session.commit()


# -- the tick ----------------------------------------------------------------------------------

def tick(now: dt.datetime | None = None, *, daily: bool = True) -> FireReport:
    """The current county's due timers, then its daily checks (once a day)."""
    report = fire_due(now)
    if daily:
        report.add(run_daily_checks(now.date() if now else None))
    return report


def fire_all_tenants(now: dt.datetime | None = None, *, daily: bool = True) -> FireReport:
    """Every tenant in turn, each inside its own scope (row-level security included).

    A county whose tick fails is logged and reported; the others still run.
    """
    from app.core.models import Tenant

    total = FireReport()
    tenant_ids = db.session.execute(select(Tenant.id).order_by(Tenant.id)).scalars().all()
    db.session.rollback()
    for tenant_id in tenant_ids:
        with tenant_context(tenant_id):
            try:
                total.add(tick(now, daily=daily))
            except Exception as exc:
                log.exception("workflow tick failed for tenant %s", tenant_id)
                total.errors.append(f"{tenant_id}：{type(exc).__name__}: {exc}")
            finally:
                db.session.rollback()
    return total


def tick_job(*_legacy: Any) -> dict[str, Any]:
    """Scheduled job: fire what is due and run the daily checks in every county.

    It never raises: RQ repeats a job only after it succeeded, so a failure here would end the
    chain. (Ticks scheduled by earlier versions pass an interval argument; it is ignored.)
    """
    from flask import current_app, has_app_context

    if not has_app_context():
        from app import create_app

        with create_app().app_context():
            return tick_job()
    try:
        report = fire_all_tenants(daily=bool(current_app.config.get("COUNTYDESK_DAILY_CHECKS", True)))
    except Exception as exc:
        log.exception("workflow tick failed")
        return {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        db.session.remove()
    return {"moved": report.moved, "escalated": report.escalated, "lost_race": report.lost_race,
            "daily": report.daily, "errors": report.errors}


def schedule_tick(seconds: int = TICK_SECONDS, *, at: dt.datetime | None = None) -> Any:
    """(Re)place the repeating tick on RQ's scheduler: first at ``at`` (default in ``seconds``), then every ``seconds``.

    The fixed job id makes this a replacement: there is never more than one tick chain.
    """
    from rq import Repeat

    from app.jobs.queue import get_queue

    seconds = max(int(seconds), 1)
    queue = get_queue("default")
    for registry in (queue.failed_job_registry, queue.finished_job_registry, queue.canceled_job_registry):
        registry.remove(TICK_JOB_ID)  # a previous run's bookkeeping, not the job
    when = at or clock.now() + dt.timedelta(seconds=seconds)
    return queue.enqueue_at(when, TICK_FUNC, job_id=TICK_JOB_ID, repeat=Repeat(times=TICK_REPEATS, interval=seconds),
                            result_ttl=3600, failure_ttl=7 * 24 * 3600, description="流程定时检查")


def tick_chain(queue: Any = None) -> list[str]:
    """Ids of tick jobs waiting on the scheduler or in the queue (one when all is well)."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    from app.jobs.queue import get_queue

    queue = queue or get_queue("default")
    waiting = list(dict.fromkeys([*queue.scheduled_job_registry.get_job_ids(), *queue.get_job_ids()]))
    out = []
    for job_id in waiting:
        try:
            job = Job.fetch(job_id, connection=queue.connection)
        except NoSuchJobError:
            continue
        if job.func_name == TICK_FUNC:
            out.append(job_id)
    return out


def ensure_tick_scheduled(seconds: int = TICK_SECONDS) -> bool:
    """Make sure exactly one tick chain repeats every ``seconds`` (worker start); True if (re)scheduled now.

    Chains scheduled by earlier versions under random ids are removed.
    """
    from rq.job import Job

    from app.jobs.queue import get_queue

    queue = get_queue("default")
    if not queue.is_async:
        return False
    chain = tick_chain(queue)
    for job_id in chain:
        if job_id != TICK_JOB_ID:
            queue.scheduled_job_registry.remove(job_id, delete_job=True)
            queue.remove(job_id)
    if TICK_JOB_ID in chain:
        job = Job.fetch(TICK_JOB_ID, connection=queue.connection)
        if list(job.repeat_intervals or []) == [seconds] and (job.repeats_left or 0) > 0:
            return False
    schedule_tick(seconds)
    return True

"""Timers: the due time lives in the database; whoever calls ``fire_due`` moves what is due.

A state's timer gives each case a ``due_at`` when it enters the state. ``fire_due(now)`` takes
the state's ``on_timeout`` transition, or marks the case overdue with an escalation notice in
its history. Each case is changed by a conditional UPDATE on its ``row_version``, so two
concurrent calls (a CLI tick and the scheduler, or two workers) fire it exactly once.

With Redis, ``tick_job`` runs on RQ's scheduler and re-schedules itself; a restarted worker
picks the scheduled job up again, and a missed tick only delays: nothing is lost.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update

from app.core.tenancy import tenant_context
from app.extensions import db
from app.workflows.models import WorkflowInstance, WorkflowStep

log = logging.getLogger("countydesk.workflows")

TICK_SECONDS = 60
TICK_FUNC = "app.workflows.timers.tick_job"


@dataclass
class FireReport:
    moved: int = 0
    escalated: int = 0
    lost_race: int = 0
    """Cases another caller fired first (counted, not fired again)."""
    instance_ids: list[int] = field(default_factory=list)

    def add(self, other: FireReport) -> None:
        self.moved += other.moved
        self.escalated += other.escalated
        self.lost_race += other.lost_race
        self.instance_ids += other.instance_ids


def fire_due(now: dt.datetime | None = None) -> FireReport:
    """Fire every due timer of the current tenant; commits per case."""
    from app.workflows.definition import ESCALATE
    from app.workflows.services import SYSTEM, _move, load_definition

    now = now or dt.datetime.now().replace(microsecond=0)
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
        if state.timer is None:
            continue
        if state.timer.on_timeout == ESCALATE:
            ok = _escalate(inst, state.label, now)
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


def _escalate(inst: WorkflowInstance, state_label: str, now: dt.datetime) -> bool:
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
    due = ""
    if inst.due_at is not None:  # a calendar deadline is due at the start of the next day
        last = inst.due_at - dt.timedelta(days=1) if inst.due_at.time() == dt.time() else inst.due_at
        due = last.strftime("%Y-%m-%d") if inst.due_at.time() == dt.time() else last.strftime("%Y-%m-%d %H:%M")
    session.add(WorkflowStep(instance_id=inst.id, org_unit_id=inst.org_unit_id, seq=inst.step_seq,
                             from_state=inst.state, to_state=inst.state, action="escalate", user_id=None, at=now,
                             comment=f"「{state_label}」已逾期（期限 {due}），已标记逾期并提请上一级督办",
                             data=None))
    session.expire(inst)
    session.flush()
    return True


def fire_all_tenants(now: dt.datetime | None = None) -> FireReport:
    """Every tenant in turn, each inside its own scope (row-level security included)."""
    from app.core.models import Tenant

    total = FireReport()
    tenant_ids = db.session.execute(select(Tenant.id).order_by(Tenant.id)).scalars().all()
    db.session.rollback()
    for tenant_id in tenant_ids:
        with tenant_context(tenant_id):
            total.add(fire_due(now))
        db.session.rollback()
    return total


def tick_job(reschedule_seconds: int | None = None) -> dict[str, Any]:
    """Scheduled job: fire what is due in every county, then schedule the next tick."""
    from flask import has_app_context

    if not has_app_context():
        from app import create_app

        with create_app().app_context():
            return tick_job(reschedule_seconds)
    try:
        report = fire_all_tenants()
    finally:
        db.session.remove()
        if reschedule_seconds:
            schedule_tick(reschedule_seconds)
    return {"moved": report.moved, "escalated": report.escalated, "lost_race": report.lost_race}


def schedule_tick(seconds: int = TICK_SECONDS, *, at: dt.datetime | None = None) -> Any:
    """Put the next tick on RQ's scheduler (needs a worker started with the scheduler)."""
    from app.jobs.queue import get_queue

    queue = get_queue("default")
    if at is not None:
        return queue.enqueue_at(at, TICK_FUNC, seconds)
    return queue.enqueue_in(dt.timedelta(seconds=seconds), TICK_FUNC, seconds)


def ensure_tick_scheduled(seconds: int = TICK_SECONDS) -> bool:
    """Schedule the repeating tick unless one is already waiting (worker start); True if scheduled now."""
    from rq.job import Job

    from app.jobs.queue import get_queue

    queue = get_queue("default")
    if not queue.is_async:
        return False
    for job_id in queue.scheduled_job_registry.get_job_ids():
        job = Job.fetch(job_id, connection=queue.connection)
        if job.func_name == TICK_FUNC:
            return False
    schedule_tick(seconds)
    return True

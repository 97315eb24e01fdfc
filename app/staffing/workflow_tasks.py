"""Built-in workflow side effects, registered through the same hook plugins use.

``notify`` records a notice for the people of the case's next stage (log for now);
``create_appointment`` turns a finished recruitment into an appointment with its term (SS-3).
Both are idempotent: running one twice for the same step changes nothing the second time.
They live with staffing, not with the workflow engine, because appointments are staffing's: the engine
knows only the task names, so staffing could be removed without the engine noticing.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import select

from app.hooks.hookspecs import hookimpl

log = logging.getLogger("countydesk.workflows")


def notify(ctx: Any) -> None:
    log.info("workflow notice %s: case %s now at %s", ctx.key, ctx.instance.id, ctx.step.to_state)


def create_appointment(ctx: Any) -> None:
    """SS-3: hiring creates the appointment; the term runs ``term_years`` (default 3) from the approval day."""
    from app.staffing.models import Appointment, Position

    inst, step = ctx.instance, ctx.step
    code = (inst.data or {}).get("position_code")
    if inst.person_id is None or not code:
        raise ValueError("聘用需要人员和岗位代码（position_code）")
    position = ctx.session.scalars(select(Position).where(Position.code == code)).first()
    if position is None:
        raise ValueError(f"岗位「{code}」不存在")
    start_text = (inst.data or {}).get("term_start")  # a renewal's term starts the day after the old one ends
    start = dt.date.fromisoformat(start_text) if start_text else step.at.date()
    exists = ctx.session.scalars(select(Appointment.id).where(
        Appointment.person_id == inst.person_id, Appointment.position_code == code,
        Appointment.start_date == start)).first()
    if exists is not None:
        return
    end = (inst.data or {}).get("term_end")
    if not end:  # SS-3: a mid-term filler's term may end with the batch (the process's rules)
        from app.workflows.recruitment import term_end

        batch_end = term_end(ctx.session, inst, position, start)
        end = batch_end.isoformat() if batch_end else None
    end_date = dt.date.fromisoformat(end) if end else _add_years(start, position.term_years or 3)
    from app.orgs.models import OrgUnit
    from app.staffing.models import Person

    # Objects, not ids: the tenant guard checks the references of a pending row through them.
    ctx.session.add(Appointment(person=ctx.session.get(Person, inst.person_id), position_code=code,
                                org_unit=ctx.session.get(OrgUnit, inst.org_unit_id), start_date=start,
                                end_date=end_date, status="active"))


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years) - dt.timedelta(days=1)
    except ValueError:  # 29 Feb
        return day.replace(year=day.year + years, day=28) - dt.timedelta(days=1)


@hookimpl
def countydesk_register_task_handlers() -> dict[str, Any]:
    from app.workflows.appraisal import record_appraisal_task

    return {"notify": notify, "create_appointment": create_appointment, "record_appraisal": record_appraisal_task}

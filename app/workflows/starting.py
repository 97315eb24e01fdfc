"""Opening cases: one for a person or an org unit, or a whole annual cycle set-based.

A case starts in the definition's initial state with the latest version, its declared fields
checked and converted, and the county's candidate rules applied when the process checks them
at the start. ``start_cycle`` opens SS-7's annual cases for every serving person in two
``INSERT … SELECT`` statements and is idempotent per person and year.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, select

from app.core.errors import ScopeDenied
from app.core.tenancy import current_tenant_id
from app.extensions import db
from app.formulas import FType
from app.orgs.models import OrgUnit
from app.staffing.models import Person
from app.workflows.actors import Actor, WorkflowError, _now
from app.workflows.catalog import definition_version, load_definition
from app.workflows.definition import Definition, State
from app.workflows.models import WorkflowInstance, WorkflowStep


def start(code: str, *, actor: Actor, person_id: int | None = None, org_unit_id: int | None = None,
          data: Mapping[str, Any] | None = None, cycle_year: int | None = None, now: dt.datetime | None = None,
          comment: str | None = None, commit: bool = True) -> WorkflowInstance:
    """Open a case of the latest version of ``code`` for a person (their village) or an org unit."""
    session = db.session
    now = now or _now()
    version = definition_version(code)
    definition = load_definition(code, version)
    if not actor.roles:
        raise ScopeDenied("只读用户不能发起流程")
    if definition.subject == "person":
        person = session.get(Person, person_id) if person_id is not None else None
        if person is None:
            raise WorkflowError(f"流程「{definition.name}」的办理对象是人员：请指定一个本县的人员")
        if person.org_unit_id is None:
            raise WorkflowError(f"人员「{person.name}」没有所属村（社区），无法确定由谁办理")
        unit = session.get(OrgUnit, person.org_unit_id)
    else:
        person = None
        unit = session.get(OrgUnit, org_unit_id) if org_unit_id is not None else None
        if unit is None or unit.level != definition.subject:
            raise WorkflowError(f"流程「{definition.name}」的办理对象是{definition.subject}级组织机构")
    assert unit is not None
    if not actor.covers(unit.path):
        raise ScopeDenied(f"无权为辖区以外的「{unit.name}」发起流程")
    values = _checked_data(definition, data or {})
    initial = definition.initial
    year = cycle_year or now.year
    if definition.rules is not None:  # county rules (posts + 1, eligibility, rehire ban): every reason shown
        from app.workflows.recruitment import CandidateRefused, check_candidate

        try:
            check_candidate(definition, person, unit, values, year, now)
        except CandidateRefused as exc:
            raise WorkflowError(str(exc)) from None
    inst = WorkflowInstance(
        definition_code=code, definition_version=version, person_id=person.id if person else None,
        subject_org_id=None if person else unit.id, org_unit_id=unit.id, cycle_year=year,
        state=initial.code, data=values, state_entered_at=now, due_at=_due(initial, now, year),
        overdue=False, step_seq=0, row_version=1, created_by=actor.user_id, last_user_id=actor.user_id,
    )
    inst.org_unit, inst.person = unit, person  # pending rows do not load relationships: the guard checks these
    session.add(inst)
    session.flush()
    session.add(WorkflowStep(instance_id=inst.id, org_unit_id=unit.id, seq=0, from_state=None,
                             to_state=initial.code, action="start", user_id=actor.user_id, at=now,
                             comment=comment, data=dict(values)))
    if commit:
        session.commit()
    else:
        session.flush()
    return inst


def start_cycle(code: str, *, actor: Actor, cycle_year: int, position_code: str | None = None,
                now: dt.datetime | None = None, commit: bool = True) -> int:
    """Open a case for every person with an active appointment in the actor's scope (SS-7's annual cycle).

    Set-based (two ``INSERT … SELECT``) and idempotent: a person who already has a case of this
    process for ``cycle_year`` is skipped. Returns the number of cases opened.
    """
    from app.staffing.models import Appointment

    session = db.session
    now = now or _now()
    version = definition_version(code)
    definition = load_definition(code, version)
    if definition.subject != "person":
        raise WorkflowError(f"流程「{definition.name}」的办理对象不是人员，不能按在岗人员批量发起")
    if not actor.roles:
        raise ScopeDenied("只读用户不能发起流程")
    tenant_id = current_tenant_id()
    inst_t, step_t, appt, org_t = (WorkflowInstance.__table__, WorkflowStep.__table__, Appointment.__table__,
                                   OrgUnit.__table__)
    initial = definition.initial
    conds = [appt.c.tenant_id == tenant_id, appt.c.status == "active"]
    if position_code:
        conds.append(appt.c.position_code == position_code)
    if actor.capture_path is not None:
        conds.append(appt.c.org_unit_id.in_(select(org_t.c.id).where(
            org_t.c.tenant_id == tenant_id, org_t.c.path.startswith(actor.capture_path))))
    existing = select(inst_t.c.person_id).where(inst_t.c.tenant_id == tenant_id, inst_t.c.definition_code == code,
                                                inst_t.c.cycle_year == cycle_year, inst_t.c.person_id.is_not(None))
    conds.append(appt.c.person_id.not_in(existing))
    people = select(
        sa.literal(tenant_id), sa.literal(code), sa.literal(version), appt.c.person_id,
        func.min(appt.c.org_unit_id), sa.literal(cycle_year), sa.literal(initial.code),
        sa.literal_column("'{}'"), sa.literal(now), sa.literal(_due(initial, now, cycle_year), sa.DateTime),
        sa.false(), sa.literal(0), sa.literal(1), sa.literal(actor.user_id, sa.Integer),
        sa.literal(actor.user_id, sa.Integer),
    ).where(*conds).group_by(appt.c.person_id)
    cols = ["tenant_id", "definition_code", "definition_version", "person_id", "org_unit_id", "cycle_year", "state",
            "data", "state_entered_at", "due_at", "overdue", "step_seq", "row_version", "created_by", "last_user_id"]
    opened = len(session.execute(inst_t.insert().from_select(cols, people).returning(inst_t.c.id)).all())
    has_step = select(step_t.c.id).where(step_t.c.tenant_id == tenant_id, step_t.c.instance_id == inst_t.c.id)
    session.execute(step_t.insert().from_select(
        ["tenant_id", "instance_id", "org_unit_id", "seq", "from_state", "to_state", "action", "user_id", "at", "data"],
        select(inst_t.c.tenant_id, inst_t.c.id, inst_t.c.org_unit_id, sa.literal(0), sa.null(),
               sa.literal(initial.code), sa.literal("start"), sa.literal(actor.user_id, sa.Integer), sa.literal(now),
               sa.literal_column("'{}'"))
        .where(inst_t.c.tenant_id == tenant_id, inst_t.c.definition_code == code, inst_t.c.cycle_year == cycle_year,
               inst_t.c.step_seq == 0, ~sa.exists(has_step))))
    if commit:
        session.commit()
    return opened


def _due(state: State, entered: dt.datetime, cycle_year: int) -> dt.datetime | None:
    return state.timer.due_at(entered, cycle_year) if state.timer else None


def _checked_data(definition: Definition, data: Mapping[str, Any]) -> dict[str, Any]:
    """Only declared fields, converted to what conditions expect (numbers, ISO dates)."""
    by_key = {f.code: f for f in definition.fields} | {f.label: f for f in definition.fields}
    out: dict[str, Any] = {}
    for key, value in data.items():
        spec = by_key.get(key)
        if spec is None:
            known = "、".join(f.label for f in definition.fields) or "无"
            raise WorkflowError(f"流程「{definition.name}」没有字段「{key}」（可填：{known}）")
        if value in (None, ""):
            out[spec.code] = None
            continue
        try:
            if spec.type is FType.NUMBER:
                value = float(value)
            elif spec.type is FType.DATE:
                value = dt.date.fromisoformat(str(value)).isoformat()
            elif spec.type is FType.BOOL:
                value = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "是", "on")
            else:
                value = str(value)
        except ValueError:
            raise WorkflowError(f"字段「{spec.label}」的值「{value}」不是有效的{spec.type.zh}") from None
        out[spec.code] = value
    return out

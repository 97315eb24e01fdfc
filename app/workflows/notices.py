"""Escalation notices (督办): an overdue case is put before the next org level up, until someone acts.

When a timer escalates, the people who should have acted are those allowed to take an action out
of the state (its transitions' ``who``). The notice goes to the role one org level above them —
a village's overdue step to the town clerks of its town, a town's to the county admins; a county's
own overdue step stays with the county admins, there being nothing above the county inside it.

A notice is addressed to a role at an org unit, not to named users: whoever holds that role there
sees it in the inbox. It closes when the case moves on (any transition, by hand, bulk or timer).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.tenancy import current_tenant_id
from app.extensions import db
from app.orgs.models import OrgUnit
from app.workflows.definition import LEVELS, ROLE_LEVELS, Definition
from app.workflows.models import WorkflowInstance, WorkflowNotice

ESCALATION = "escalation"
_ROLE_OF_LEVEL = {level: role for role, level in ROLE_LEVELS.items()}


def responsible_level(definition: Definition, state_code: str) -> str:
    """The lowest org level whose role may take an action out of the state (county if none)."""
    levels = {ROLE_LEVELS[role] for t in definition.transitions_from(state_code) for role in ROLE_LEVELS
              if t.who.allows([role])}
    return min(levels, key=LEVELS.index) if levels else "county"


def escalation_target(definition: Definition, inst: WorkflowInstance,
                      session: Session | None = None) -> tuple[str, OrgUnit]:
    """(role, org unit) one level above the responsible people, found among the case unit's ancestors."""
    session = session or db.session
    level = responsible_level(definition, inst.state)
    above = LEVELS[min(LEVELS.index(level) + 1, len(LEVELS) - 1)]
    unit = session.get(OrgUnit, inst.org_unit_id)
    found = unit
    while unit is not None:
        found = unit
        if unit.level == above or unit.parent_id is None:
            break
        unit = session.get(OrgUnit, unit.parent_id)
    assert found is not None
    role = _ROLE_OF_LEVEL.get(found.level, "county_admin")
    return role, found


def raise_escalation(inst: WorkflowInstance, definition: Definition, state_label: str, due_text: str,
                     now: dt.datetime, session: Session | None = None) -> WorkflowNotice:
    """Add the notice for an overdue case (inside the timer's transaction)."""
    session = session or db.session
    role, target = escalation_target(definition, inst, session)
    notice = WorkflowNotice(
        instance_id=inst.id, org_unit_id=inst.org_unit_id, target_org_id=target.id, target_role=role,
        kind=ESCALATION, state=inst.state, step_seq=inst.step_seq, due_at=inst.due_at, created_at=now,
        message=f"「{definition.name}」「{state_label}」环节已逾期（期限 {due_text}），请督促办理",
    )
    notice.instance = inst  # a pending row's references are checked through its relationships
    session.add(notice)
    return notice


def resolve_notices(session: Session, instance_ids: Iterable[int], user_id: int | None, now: dt.datetime) -> int:
    """Close the open notices of cases that just moved on; returns how many were closed."""
    ids = list(instance_ids)
    if not ids:
        return 0
    n = WorkflowNotice.__table__
    result = session.execute(
        n.update().where(n.c.tenant_id == current_tenant_id(), n.c.instance_id.in_(ids), n.c.resolved_at.is_(None))
        .values(resolved_at=now, resolved_by=user_id))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass
class NoticeItem:
    notice: WorkflowNotice
    instance: WorkflowInstance
    definition_name: str
    state_label: str
    target_name: str

    @property
    def due_text(self) -> str:
        from app.workflows.timers import due_text

        return due_text(self.notice.due_at)


def open_notices(roles: Iterable[str], capture_path: str | None, limit: int = 200) -> list[NoticeItem]:
    """Open notices addressed to one of ``roles`` at a unit inside the scope, oldest deadline first."""
    from app.workflows.catalog import load_definition

    roles = sorted(set(roles) & set(ROLE_LEVELS))
    if not roles:
        return []
    session = db.session
    tenant_id = current_tenant_id()
    n, org_t = WorkflowNotice.__table__, OrgUnit.__table__
    stmt = (select(n.c.id, org_t.c.name).join(org_t, org_t.c.id == n.c.target_org_id)
            .where(n.c.tenant_id == tenant_id, n.c.resolved_at.is_(None), n.c.target_role.in_(roles)))
    if capture_path is not None:
        stmt = stmt.where(org_t.c.path.startswith(capture_path))
    rows = session.execute(stmt.order_by(n.c.due_at.is_(None), n.c.due_at, n.c.id).limit(limit)).all()
    items: list[NoticeItem] = []
    for notice_id, target_name in rows:
        notice = session.get(WorkflowNotice, notice_id)
        assert notice is not None
        inst = notice.instance
        definition = load_definition(inst.definition_code, inst.definition_version)
        items.append(NoticeItem(notice, inst, definition.name, definition.state(notice.state).label, target_name))
    return items


def notices_of(instance_id: int) -> list[WorkflowNotice]:
    """Every notice of one case, open or closed (the case page's history)."""
    return list(db.session.scalars(select(WorkflowNotice).where(WorkflowNotice.instance_id == instance_id)
                                   .order_by(WorkflowNotice.id)))


def open_count_select(roles: Iterable[str], capture_path: str | None) -> Any | None:
    """``SELECT count(*)`` of the open notices the inbox would list; None when no role can get any."""
    roles = sorted(set(roles) & set(ROLE_LEVELS))
    if not roles:
        return None
    n, org_t = WorkflowNotice.__table__, OrgUnit.__table__
    stmt: Any = (select(sa.func.count()).select_from(n).join(org_t, org_t.c.id == n.c.target_org_id)
                 .where(n.c.tenant_id == current_tenant_id(), n.c.resolved_at.is_(None), n.c.target_role.in_(roles)))
    if capture_path is not None:
        stmt = stmt.where(org_t.c.path.startswith(capture_path))
    return stmt


def count_open(roles: Iterable[str], capture_path: str | None) -> int:
    """How many open notices the inbox would list."""
    stmt = open_count_select(roles, capture_path)
    return 0 if stmt is None else int(db.session.execute(stmt).scalar_one())

"""Reading cases: history, what an actor may do now, and the inbox (待办) with its 督办 notices.

The inbox lists cases waiting for an action the actor may take in their scope, soonest due first,
and the open escalation notices addressed to the actor's level (``app.workflows.notices``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, select

from app.core.errors import ScopeDenied
from app.core.tenancy import current_tenant_id
from app.extensions import db
from app.orgs.models import OrgUnit
from app.workflows.acting import _check_actor, get_instance
from app.workflows.actors import Actor
from app.workflows.catalog import load_definition
from app.workflows.definition import Definition, State, Transition
from app.workflows.models import WorkflowInstance, WorkflowStep
from app.workflows.notices import NoticeItem, open_notices


def history(instance_id: int) -> list[WorkflowStep]:
    get_instance(instance_id)
    return list(db.session.scalars(select(WorkflowStep).where(WorkflowStep.instance_id == instance_id)
                                   .order_by(WorkflowStep.seq, WorkflowStep.id)))


def available_actions(inst: WorkflowInstance, actor: Actor) -> list[Transition]:
    """What the actor may do now (role, scope, self-approval); conditions are checked on submit."""
    definition = load_definition(inst.definition_code, inst.definition_version)
    out = []
    for t in definition.transitions_from(inst.state):
        try:
            _check_actor(definition, t, inst, actor)
        except ScopeDenied:
            continue
        out.append(t)
    return out


@dataclass
class InboxItem:
    instance: WorkflowInstance
    definition: Definition
    state: State
    actions: list[Transition]

    @property
    def due_text(self) -> str:
        """The deadline as people say it (a calendar deadline shows its last day)."""
        from app.workflows.timers import due_text

        return due_text(self.instance.due_at)


@dataclass
class Inbox:
    items: list[InboxItem]
    counts: dict[tuple[str, str], int]
    """(definition name, state label) -> number of cases waiting."""
    overdue: int = 0
    notices: list[NoticeItem] = field(default_factory=list)
    """督办: overdue cases below the actor's level put before them, open until someone acts."""

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def inbox(actor: Actor, limit: int = 200) -> Inbox:
    """Cases waiting for an action the actor may take, in their scope, soonest due first, and the 督办 list."""
    session = db.session
    notices = open_notices(actor.roles, actor.capture_path, limit)
    tenant_id = current_tenant_id()
    inst_t, org_t = WorkflowInstance.__table__, OrgUnit.__table__
    pairs = session.execute(select(inst_t.c.definition_code, inst_t.c.definition_version).distinct()
                            .where(inst_t.c.tenant_id == tenant_id)).all()
    waiting: list[Any] = []
    definitions: dict[tuple[str, int], Definition] = {}
    for code, version in pairs:
        definition = load_definition(code, version)
        definitions[(code, version)] = definition
        states = {s for t in definition.transitions if actor.may(t) for s in t.from_states}
        if states:
            waiting.append(sa.and_(inst_t.c.definition_code == code, inst_t.c.definition_version == version,
                                   inst_t.c.state.in_(sorted(states))))
    if not waiting:
        return Inbox([], {}, notices=notices)
    conds: list[Any] = [inst_t.c.tenant_id == tenant_id, sa.or_(*waiting)]
    if actor.capture_path is not None:
        conds.append(inst_t.c.org_unit_id.in_(select(org_t.c.id).where(
            org_t.c.tenant_id == tenant_id, org_t.c.path.startswith(actor.capture_path))))
    counts: dict[tuple[str, str], int] = {}
    overdue = 0
    for code, version, state, n, late in session.execute(
            select(inst_t.c.definition_code, inst_t.c.definition_version, inst_t.c.state, func.count(),
                   func.sum(sa.case((inst_t.c.overdue, 1), else_=0)))
            .where(*conds).group_by(inst_t.c.definition_code, inst_t.c.definition_version, inst_t.c.state)):
        definition = definitions[(code, version)]
        key = (definition.name, definition.state(state).label)
        counts[key] = counts.get(key, 0) + int(n)
        overdue += int(late or 0)
    ids = session.execute(select(inst_t.c.id).where(*conds)
                          .order_by(inst_t.c.due_at.is_(None), inst_t.c.due_at, inst_t.c.id).limit(limit)).scalars()
    items = []
    for inst_id in ids:
        inst = session.get(WorkflowInstance, inst_id)
        assert inst is not None
        definition = definitions[(inst.definition_code, inst.definition_version)]
        actions = available_actions(inst, actor)
        if actions:
            items.append(InboxItem(inst, definition, definition.state(inst.state), actions))
    return Inbox(items, counts, overdue, notices)


def instances_of(code: str | None = None, states: Iterable[str] | None = None) -> list[WorkflowInstance]:
    stmt = select(WorkflowInstance).order_by(WorkflowInstance.id)
    if code:
        stmt = stmt.where(WorkflowInstance.definition_code == code)
    if states:
        stmt = stmt.where(WorkflowInstance.state.in_(list(states)))
    return list(db.session.scalars(stmt))

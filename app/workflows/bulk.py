"""Bulk action on a subtree: every case of a process waiting for one action, set-based.

One ``UPDATE … RETURNING`` per definition version (and cycle year when the target state has a
calendar deadline), then the history rows in one multi-row INSERT — never a loop over cases,
except where a condition must read each case's subject.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.errors import NotFound, ScopeDenied
from app.core.tenancy import current_tenant_id
from app.extensions import db
from app.orgs.models import OrgUnit
from app.workflows.acting import _check_condition
from app.workflows.actors import Actor, WorkflowError, _now
from app.workflows.catalog import definition_version, load_definition
from app.workflows.definition import Definition, Transition
from app.workflows.models import WorkflowInstance, WorkflowNotice, WorkflowStep
from app.workflows.starting import _due
from app.workflows.tasks import queue_step_tasks


@dataclass
class BulkReport:
    moved: int = 0
    skipped_condition: int = 0
    skipped_self: int = 0
    instance_ids: list[int] = field(default_factory=list)

    def summary(self) -> str:
        text = f"已办理 {self.moved} 件"
        if self.skipped_condition:
            text += f"，{self.skipped_condition} 件不满足条件未办理"
        if self.skipped_self:
            text += f"，{self.skipped_self} 件由您本人提交、须由他人审批"
        return text


def bulk_act(code: str, org_unit_id: int, action: str, *, actor: Actor, comment: str | None = None,
             now: dt.datetime | None = None, commit: bool = True) -> BulkReport:
    """Take ``action`` on every case of ``code`` in the org unit's subtree that waits for it.

    Set-based: one ``UPDATE … RETURNING`` per definition version (and cycle year when the target
    state has a calendar deadline), then the history rows in one multi-row INSERT.
    """
    session = db.session
    now = now or _now()
    tenant_id = current_tenant_id()
    unit = session.get(OrgUnit, org_unit_id)
    if unit is None:
        raise NotFound("组织机构不存在")
    if not actor.covers(unit.path):
        raise ScopeDenied(f"「{unit.name}」不在您的辖区内，不能批量办理")
    report = BulkReport()
    inst_t = WorkflowInstance.__table__
    versions = session.execute(select(inst_t.c.definition_version).distinct().where(
        inst_t.c.tenant_id == tenant_id, inst_t.c.definition_code == code)).scalars().all()
    found = False
    for version in sorted(versions) or [definition_version(code)]:  # no cases: still check the request
        definition = load_definition(code, version)
        try:
            transition = definition.transition(action)
        except KeyError:
            continue
        found = True
        if not actor.may(transition):
            raise ScopeDenied(f"「{transition.label}」应由{transition.who.describe()}办理，您无权办理")
        if transition.approval is not None:
            raise WorkflowError(f"「{transition.label}」是会签环节（各单位分别表态），不能批量办理")
        refusal = transition.refuse_without_comment(comment)
        if refusal:
            raise WorkflowError(refusal)
        rules = definition.rules
        if rules is not None and action in (rules.check_at, rules.ranking.action if rules.ranking else None):
            raise WorkflowError(f"「{transition.label}」要逐人核对资格、差额或排名，不能批量办理")
        _bulk_version(session, tenant_id, unit, definition, version, transition, actor, comment, now, report)
    if not found:
        raise WorkflowError(f"流程「{code}」没有动作「{action}」")
    if commit:
        session.commit()
    return report


def _bulk_version(session: Session, tenant_id: int | None, unit: OrgUnit, definition: Definition, version: int,
                  transition: Transition, actor: Actor, comment: str | None, now: dt.datetime,
                  report: BulkReport) -> None:
    inst_t, org_t = WorkflowInstance.__table__, OrgUnit.__table__
    subtree = select(org_t.c.id).where(org_t.c.tenant_id == tenant_id, org_t.c.path.startswith(unit.path))
    where = [inst_t.c.tenant_id == tenant_id, inst_t.c.definition_code == definition.code,
             inst_t.c.definition_version == version, inst_t.c.state.in_(transition.from_states),
             inst_t.c.org_unit_id.in_(subtree)]
    for from_code in transition.from_states:
        opens = definition.state(from_code).opens
        if opens is not None:  # open from (cycle_year, month, day): compare the year set-based
            today = now.date()
            opened = (inst_t.c.cycle_year < today.year if (opens.month, opens.day) > (today.month, today.day)
                      else inst_t.c.cycle_year <= today.year)
            where.append(sa.or_(inst_t.c.state != from_code, opened))
    if transition.is_approval and not definition.allow_self_approval and actor.user_id is not None:
        self_cond = sa.and_(*where, inst_t.c.last_user_id == actor.user_id)
        report.skipped_self += session.execute(select(func.count()).where(self_cond)).scalar_one()
        where.append(sa.or_(inst_t.c.last_user_id.is_(None), inst_t.c.last_user_id != actor.user_id))
    formula = definition.condition(transition.action)
    if formula is not None:  # conditions read the person too: evaluated per case, updated by id
        rows = session.execute(select(inst_t.c.id).where(*where)).scalars().all()
        ok: list[int] = []
        for inst_id in rows:
            inst = session.get(WorkflowInstance, inst_id)
            assert inst is not None
            try:
                _check_condition(definition, transition, inst, dict(inst.data or {}))
                ok.append(inst_id)
            except WorkflowError:
                report.skipped_condition += 1
        where.append(inst_t.c.id.in_(ok))
    target = definition.state(transition.to)
    years: list[int | None] = [None]
    if target.timer is not None and target.timer.deadline is not None:
        years = list(session.execute(select(inst_t.c.cycle_year).distinct().where(*where)).scalars())
    step_t = WorkflowStep.__table__
    tasks = {name: {"status": "pending", "attempts": 0} for name in transition.tasks} or None
    for from_code in transition.from_states:  # one statement per source state: history knows where from
        for year in years:
            conds = [*where, inst_t.c.state == from_code] + ([inst_t.c.cycle_year == year] if year else [])
            _resolve_overdue(session, tenant_id, conds, actor.user_id, now)
            moved = session.execute(
                inst_t.update().where(*conds).values(
                    state=target.code, step_seq=inst_t.c.step_seq + 1, row_version=inst_t.c.row_version + 1,
                    state_entered_at=now, due_at=_due(target, now, year or now.year), overdue=False,
                    last_user_id=actor.user_id)
                .returning(inst_t.c.id, inst_t.c.step_seq, inst_t.c.org_unit_id, inst_t.c.data)
            ).all()
            if not moved:
                continue
            rows = [{"tenant_id": tenant_id, "instance_id": m.id, "org_unit_id": m.org_unit_id, "seq": m.step_seq,
                     "from_state": from_code, "to_state": target.code, "action": transition.action,
                     "user_id": actor.user_id, "at": now, "comment": comment, "data": m.data, "tasks": tasks}
                    for m in moved]
            if transition.tasks:
                step_ids = session.execute(step_t.insert().returning(step_t.c.id), rows).scalars().all()
                for step_id in step_ids:
                    queue_step_tasks(session, step_id, transition.tasks, actor.user_id)
            else:
                session.execute(step_t.insert(), rows)
            report.moved += len(moved)
            report.instance_ids.extend(m.id for m in moved)


def _resolve_overdue(session: Session, tenant_id: int | None, conds: list[Any], user_id: int | None,
                     now: dt.datetime) -> None:
    """Close the 督办 notices of the overdue cases about to move, in one statement (before they move)."""
    inst_t, n = WorkflowInstance.__table__, WorkflowNotice.__table__
    overdue = select(inst_t.c.id).where(*conds, inst_t.c.overdue.is_(True))
    session.execute(n.update().where(n.c.tenant_id == tenant_id, n.c.resolved_at.is_(None),
                                     n.c.instance_id.in_(overdue)).values(resolved_at=now, resolved_by=user_id))

"""Bulk action on a subtree: every case of a process waiting for one action, set-based.

One ``UPDATE … RETURNING`` per definition version (and cycle year when the target state has a
calendar deadline), then the history rows in one multi-row INSERT — never a loop over cases,
except where a condition must read each case's subject.

An N-of-M step is bulk-approved as one party's opinion on every waiting case: one
``INSERT … SELECT`` of the votes (cases where the party already spoke are skipped and counted),
then the cases whose approvals now reach ``need`` move with the same ``UPDATE … RETURNING``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core.errors import NotFound, ScopeDenied
from app.core.tenancy import current_tenant_id
from app.extensions import db
from app.orgs.models import OrgUnit
from app.workflows.acting import DECISIONS, _check_condition, party_for
from app.workflows.actors import Actor, AlreadyHandled, WorkflowError, _now
from app.workflows.catalog import definition_version, load_definition
from app.workflows.definition import Definition, Transition
from app.workflows.models import WorkflowInstance, WorkflowNotice, WorkflowStep, WorkflowVote
from app.workflows.starting import _due
from app.workflows.tasks import queue_step_tasks


@dataclass
class BulkReport:
    moved: int = 0
    skipped_condition: int = 0
    skipped_self: int = 0
    instance_ids: list[int] = field(default_factory=list)
    party: str | None = None
    """The department whose opinion was recorded (N-of-M steps)."""
    voted: int = 0
    skipped_voted: int = 0
    """Cases where the party had already given its opinion in this round of the step."""

    def summary(self) -> str:
        if self.party is not None:
            text = f"已记录「{self.party}」意见 {self.voted} 件，其中 {self.moved} 件会签完成、已办理"
            if self.skipped_voted:
                text += f"，{self.skipped_voted} 件「{self.party}」已表态、未重复记录"
        else:
            text = f"已办理 {self.moved} 件"
        if self.skipped_condition:
            text += f"，{self.skipped_condition} 件不满足条件未办理"
        if self.skipped_self:
            text += f"，{self.skipped_self} 件由您本人提交、须由他人审批"
        return text


def bulk_act(code: str, org_unit_id: int, action: str, *, actor: Actor, comment: str | None = None,
             party: str | None = None, decision: str = "approve", now: dt.datetime | None = None,
             commit: bool = True) -> BulkReport:
    """Take ``action`` on every case of ``code`` in the org unit's subtree that waits for it.

    Set-based: one ``UPDATE … RETURNING`` per definition version (and cycle year when the target
    state has a calendar deadline), then the history rows in one multi-row INSERT. On an N-of-M
    step ``party`` (or the actor's own department) gives ``decision`` on every case at once.
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
            report.party = party_for(actor, transition, party)
            if decision not in DECISIONS:
                raise WorkflowError("意见应为 同意 或 不同意")
        refusal = transition.refuse_without_comment(comment)
        if refusal:
            raise WorkflowError(refusal)
        rules = definition.rules
        if rules is not None and action in (rules.check_at, rules.ranking.action if rules.ranking else None,
                                            rules.after_action):
            raise WorkflowError(f"「{transition.label}」要逐人核对资格、差额或排名，不能批量办理")
        try:
            _bulk_version(session, tenant_id, unit, definition, version, transition, actor, comment, now, report,
                          decision)
        except IntegrityError as exc:
            # A single vote of the same party landed between our NOT EXISTS and our INSERT: the
            # unique vote key refuses the duplicate, and the whole bulk action is undone.
            session.rollback()
            raise AlreadyHandled("已被他人处理：批量办理期间有人对其中的事项表态，本次批量办理未生效，"
                                 "请刷新后重试") from exc
    if not found:
        raise WorkflowError(f"流程「{code}」没有动作「{action}」")
    if commit:
        session.commit()
    return report


def _bulk_version(session: Session, tenant_id: int | None, unit: OrgUnit, definition: Definition, version: int,
                  transition: Transition, actor: Actor, comment: str | None, now: dt.datetime,
                  report: BulkReport, decision: str = "approve") -> None:
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
    comments: dict[int, str] = {}
    if transition.approval is not None:
        assert report.party is not None
        where = _bulk_vote(session, where, transition, report.party, decision, actor, comment, now, report)
        if decision != "approve":
            return
        comments = _summaries(session, where, comment)
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
                     "user_id": actor.user_id, "at": now, "comment": comments.get(m.id, comment), "data": m.data,
                     "tasks": tasks}
                    for m in moved]
            if transition.tasks:
                step_ids = session.execute(step_t.insert().returning(step_t.c.id), rows).scalars().all()
                for step_id in step_ids:
                    queue_step_tasks(session, step_id, transition.tasks, actor.user_id)
            else:
                session.execute(step_t.insert(), rows)
            report.moved += len(moved)
            report.instance_ids.extend(m.id for m in moved)


def _bulk_vote(session: Session, where: list[Any], transition: Transition, party: str, decision: str, actor: Actor,
               comment: str | None, now: dt.datetime, report: BulkReport) -> list[Any]:
    """Record ``party``'s opinion on every waiting case in one ``INSERT … SELECT``; returns the conditions
    selecting the cases this call voted on whose approvals now reach ``need`` (the ones to move).

    (case, visit, party) is unique, so "a vote of this party at this visit at ``now``" names exactly the
    votes inserted here. Each voted case's ``row_version`` goes up, as a single vote's does.
    """
    approval = transition.approval
    assert approval is not None
    inst_t, v = WorkflowInstance.__table__, WorkflowVote.__table__

    def vote_of(*extra: Any) -> Any:
        return select(v.c.id).where(v.c.instance_id == inst_t.c.id, v.c.step_seq == inst_t.c.step_seq,
                                    v.c.party == party, *extra).correlate(inst_t).exists()

    report.skipped_voted += session.execute(select(func.count()).where(*where, vote_of())).scalar_one()
    cols = ["tenant_id", "instance_id", "org_unit_id", "step_seq", "state", "party", "user_id", "decision",
            "comment", "at"]
    source = select(inst_t.c.tenant_id, inst_t.c.id, inst_t.c.org_unit_id, inst_t.c.step_seq, inst_t.c.state,
                    sa.cast(sa.literal(party), v.c.party.type), sa.cast(sa.literal(actor.user_id), sa.Integer),
                    sa.cast(sa.literal(decision), v.c.decision.type), sa.cast(sa.literal(comment), sa.Text),
                    sa.literal(now, sa.DateTime)).where(*where, ~vote_of())  # no CAST: SQLite makes a number of it
    # RETURNING counts what was inserted (an INSERT … SELECT's rowcount is not reported by every driver)
    report.voted += len(session.execute(v.insert().from_select(cols, source).returning(v.c.id)).all())
    mine = vote_of(v.c.at == now)
    session.execute(inst_t.update().where(*where, mine).values(row_version=inst_t.c.row_version + 1)
                    .execution_options(synchronize_session=False))
    approvals = select(func.count()).where(v.c.instance_id == inst_t.c.id, v.c.step_seq == inst_t.c.step_seq,
                                           v.c.decision == "approve").correlate(inst_t).scalar_subquery()
    return [*where, mine, approvals >= approval.need]


def _summaries(session: Session, where: list[Any], comment: str | None) -> dict[int, str]:
    """The history comment of each case about to complete: every party's opinion, as a single vote writes it."""
    from app.workflows.acting import _vote_summary

    inst_t, v = WorkflowInstance.__table__, WorkflowVote.__table__
    votes: dict[int, dict[str, str]] = {}
    rows = session.execute(select(v.c.instance_id, v.c.party, v.c.decision)
                           .join(inst_t, sa.and_(inst_t.c.id == v.c.instance_id, inst_t.c.step_seq == v.c.step_seq))
                           .where(*where).order_by(v.c.instance_id, v.c.id))
    for inst_id, party, decision in rows:
        votes.setdefault(inst_id, {})[party] = decision
    return {inst_id: _vote_summary(by_party, comment) for inst_id, by_party in votes.items()}


def _resolve_overdue(session: Session, tenant_id: int | None, conds: list[Any], user_id: int | None,
                     now: dt.datetime) -> None:
    """Close the 督办 notices of the overdue cases about to move, in one statement (before they move)."""
    inst_t, n = WorkflowInstance.__table__, WorkflowNotice.__table__
    overdue = select(inst_t.c.id).where(*conds, inst_t.c.overdue.is_(True))
    session.execute(n.update().where(n.c.tenant_id == tenant_id, n.c.resolved_at.is_(None),
                                     n.c.instance_id.in_(overdue)).values(resolved_at=now, resolved_by=user_id))

"""Acting on one case: checks, the conditional UPDATE, N-of-M votes.

A transition is one ``UPDATE … WHERE row_version = :v``: of two people acting on the same state
one wins and the other is told the case was already handled. Side-effect tasks are queued on the
session and enqueued after commit (``app.workflows.tasks``). Moving a case also closes the
escalation notices it had (``app.workflows.notices``): once someone acts, nobody needs to chase it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core import clock
from app.core.errors import NotFound, ScopeDenied
from app.extensions import db
from app.formulas import FormulaRuntimeError
from app.orgs.models import OrgUnit, PopulationFact
from app.staffing.models import Person
from app.workflows.actors import Actor, AlreadyHandled, WorkflowError, _now
from app.workflows.catalog import load_definition
from app.workflows.definition import Definition, Transition
from app.workflows.models import WorkflowInstance, WorkflowStep, WorkflowVote
from app.workflows.starting import _checked_data, _due
from app.workflows.tasks import queue_step_tasks

DECISIONS = {"approve": "同意", "reject": "不同意"}


@dataclass
class ActResult:
    instance: WorkflowInstance
    moved: bool
    """False when a vote was recorded but the N-of-M approval is not complete yet."""
    step: WorkflowStep | None = None
    votes: dict[str, str] = field(default_factory=dict)


def get_instance(instance_id: int) -> WorkflowInstance:
    inst = db.session.get(WorkflowInstance, instance_id)
    if inst is None:
        raise NotFound("流程实例不存在")
    return inst


def act(instance_id: int, action: str, *, actor: Actor, comment: str | None = None,
        data: Mapping[str, Any] | None = None, expected_row_version: int | None = None,
        party: str | None = None, decision: str = "approve", now: dt.datetime | None = None,
        commit: bool = True) -> ActResult:
    """Take ``action`` on a case; refuses (and changes nothing) when the actor may not."""
    session = db.session
    now = now or _now()
    inst = get_instance(instance_id)
    definition = load_definition(inst.definition_code, inst.definition_version)
    try:
        transition = definition.transition(action)
    except KeyError:
        raise WorkflowError(f"流程「{definition.name}」没有动作「{action}」") from None
    if expected_row_version is not None and int(expected_row_version) != inst.row_version:
        raise AlreadyHandled("已被他人处理：您打开后这件事已有新的办理记录，请刷新后查看")
    state = definition.state(inst.state)
    if inst.state not in transition.from_states:
        raise WorkflowError(f"当前环节「{state.label}」不能执行「{transition.label}」")
    _check_actor(definition, transition, inst, actor)
    if state.opens is not None and now.date() < state.opens.in_year(inst.cycle_year):
        raise WorkflowError(f"「{state.label}」环节自 {inst.cycle_year} 年 {state.opens.month} 月 "
                            f"{state.opens.day} 日起才能办理")
    refusal = transition.refuse_without_comment(comment)
    if refusal:
        raise WorkflowError(refusal)
    values = dict(inst.data or {})
    values.update(_checked_data(definition, data or {}))
    _check_condition(definition, transition, inst, values)
    if definition.rules is not None:  # county rules checked at this action (posts + 1, eligibility, rehire ban)
        from app.workflows.recruitment import CandidateRefused, check_candidate

        try:
            check_candidate(definition, inst.person, inst.org_unit, values, inst.cycle_year, now, action, inst.id)
        except CandidateRefused as exc:
            raise WorkflowError(str(exc)) from None
    if transition.approval is not None:
        return _vote(inst, definition, transition, actor, party, decision, comment, values, now, commit)
    _check_fixed(definition, transition, inst, values)
    step = _move(session, inst, definition, transition, actor.user_id, comment, values, now)
    if step is None:
        raise AlreadyHandled("已被他人处理：这件事刚刚已由他人办理，您的操作未生效，请刷新后查看")
    if commit:
        session.commit()
    return ActResult(inst, True, step)


def _check_actor(definition: Definition, transition: Transition, inst: WorkflowInstance, actor: Actor) -> None:
    if not actor.may(transition):
        raise ScopeDenied(f"「{transition.label}」应由{transition.who.describe()}办理，您无权办理")
    path = db.session.scalar(select(OrgUnit.path).where(OrgUnit.id == inst.org_unit_id))
    if not actor.covers(path):
        raise ScopeDenied("这件事不在您的辖区内，您无权办理")
    if transition.is_approval and not definition.allow_self_approval and actor.user_id is not None \
            and inst.last_user_id == actor.user_id:
        raise ScopeDenied(f"不能审批自己提交的事项：上一环节由您办理，「{transition.label}」须由他人审批")


def _check_fixed(definition: Definition, transition: Transition, inst: WorkflowInstance,
                 values: Mapping[str, Any]) -> None:
    """SS-5: the step that fixes candidates (``rules.candidates.after_action``) keeps the round within the posts."""
    rules = definition.rules
    if rules is None or rules.after_action != transition.action:
        return
    from app.workflows.recruitment import fixed_reasons

    reasons = fixed_reasons(definition, inst.org_unit, values, inst.cycle_year, inst.id)
    if reasons:
        raise WorkflowError("不能确定为候选人：" + "；".join(reasons))


def party_for(actor: Actor, transition: Transition, party: str | None) -> str:
    """The department a vote is recorded for: a bound user speaks only for theirs (403 otherwise).

    A user without a department (the county admin entering the departments' paper opinions) must
    name the party; one with a department gets it preselected and may not vote for another.
    """
    approval = transition.approval
    assert approval is not None
    if actor.party:
        if party and party != actor.party:
            raise ScopeDenied(f"您代表「{actor.party}」表态，不能代「{party}」表态")
        if actor.party not in approval.parties:
            raise ScopeDenied(f"「{transition.label}」的会签单位是{'、'.join(approval.parties)}，"
                              f"您代表「{actor.party}」，不能在此表态")
        return actor.party
    if party not in approval.parties:
        raise WorkflowError(f"「{transition.label}」需选择会签单位：{'、'.join(approval.parties)}")
    return party


def subject_values(inst: WorkflowInstance, values: Mapping[str, Any], definition: Definition) -> dict[str, Any]:
    """The variables a condition sees: the case's data, then the subject (person or org unit)."""
    out: dict[str, Any] = {v.code: None for v in definition.variables()}
    if inst.person_id is not None:
        person = db.session.get(Person, inst.person_id)
        if person is not None:
            ref = values.get("reference_date") or clock.server_today().isoformat()
            ref_date = dt.date.fromisoformat(str(ref))
            age = ref_date.year - person.birth_date.year - (
                (ref_date.month, ref_date.day) < (person.birth_date.month, person.birth_date.day))
            out.update(age=age, education=person.education, sex=person.sex, birth_date=person.birth_date,
                       reference_date=ref_date)
    elif inst.subject_org_id is not None:
        fact = db.session.scalars(select(PopulationFact).where(PopulationFact.org_unit_id == inst.subject_org_id)
                                  .order_by(PopulationFact.period.desc()).limit(1)).first()
        if fact is not None:
            out.update({k: getattr(fact, k) for k in out if hasattr(fact, k)})
    out.update({k: v for k, v in values.items() if k in out})
    return out


def _check_condition(definition: Definition, transition: Transition, inst: WorkflowInstance,
                     values: Mapping[str, Any]) -> None:
    formula = definition.condition(transition.action)
    if formula is None:
        return
    try:
        result = formula.evaluate(subject_values(inst, values, definition))
    except FormulaRuntimeError as exc:
        raise WorkflowError(f"无法判断「{transition.label}」的条件「{transition.condition}」：{exc}") from None
    if result.value is not True:
        inputs = "，".join(f"{label}={value}" for _code, label, value in result.trace) or "无"
        raise WorkflowError(f"不满足「{transition.label}」的条件「{transition.condition}」（{inputs}）")


def _move(session: Session, inst: WorkflowInstance, definition: Definition, transition: Transition,
          user_id: int | None, comment: str | None, values: dict[str, Any], now: dt.datetime,
          action: str | None = None) -> WorkflowStep | None:
    """The conditional UPDATE of one case; None when someone else changed it first."""
    target = definition.state(transition.to)
    seen_version, seq = inst.row_version, inst.step_seq + 1
    result = session.execute(
        update(WorkflowInstance)
        .where(WorkflowInstance.id == inst.id, WorkflowInstance.row_version == seen_version,
               WorkflowInstance.state == inst.state)
        .values(state=target.code, step_seq=seq, row_version=seen_version + 1, state_entered_at=now,
                due_at=_due(target, now, inst.cycle_year), overdue=False, data=values, last_user_id=user_id)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.expire(inst)
        return None
    from_state, was_overdue = inst.state, inst.overdue
    session.expire(inst)
    if was_overdue:  # someone acted: the 督办 notice has served its purpose
        from app.workflows.notices import resolve_notices

        resolve_notices(session, [inst.id], user_id, now)
    step = WorkflowStep(instance_id=inst.id, org_unit_id=inst.org_unit_id, seq=seq, from_state=from_state,
                        to_state=target.code, action=action or transition.action, user_id=user_id, at=now,
                        comment=comment, data=dict(values),
                        tasks={name: {"status": "pending", "attempts": 0} for name in transition.tasks} or None)
    session.add(step)
    session.flush()
    if transition.tasks:
        queue_step_tasks(session, step.id, transition.tasks, user_id)
    return step


def _vote(inst: WorkflowInstance, definition: Definition, transition: Transition, actor: Actor,
          party: str | None, decision: str, comment: str | None, values: dict[str, Any], now: dt.datetime,
          commit: bool) -> ActResult:
    session = db.session
    approval = transition.approval
    assert approval is not None
    party = party_for(actor, transition, party)
    if decision not in DECISIONS:
        raise WorkflowError("意见应为 同意 或 不同意")
    votes = _votes(inst)
    if party in votes:
        raise AlreadyHandled(f"「{party}」已表态（{DECISIONS[votes[party]]}），不能重复表态")
    if decision == "approve" and sum(1 for d in votes.values() if d == "approve") + 1 >= approval.need:
        _check_fixed(definition, transition, inst, values)  # this vote completes the approval
    seen_version = inst.row_version
    # The vote bumps row_version too: two final votes at once cannot both miss each other.
    result = session.execute(
        update(WorkflowInstance)
        .where(WorkflowInstance.id == inst.id, WorkflowInstance.row_version == seen_version)
        .values(row_version=seen_version + 1).execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise AlreadyHandled("已被他人处理：这件事刚刚已由他人办理，您的意见未保存，请刷新后查看")
    session.add(WorkflowVote(instance_id=inst.id, org_unit_id=inst.org_unit_id, step_seq=inst.step_seq,
                             state=inst.state, party=party, user_id=actor.user_id, decision=decision,
                             comment=comment, at=now))
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise AlreadyHandled(f"「{party}」已表态，不能重复表态") from None
    votes[party] = decision
    session.expire(inst)
    approvals = sum(1 for d in votes.values() if d == "approve")
    step = None
    if approvals >= approval.need:
        session.refresh(inst)
        step = _move(session, inst, definition, transition, actor.user_id,
                     _vote_summary(votes, comment), values, now)
        if step is None:
            raise AlreadyHandled("已被他人处理：这件事刚刚已由他人办理，请刷新后查看")
    if commit:
        session.commit()
    return ActResult(inst, step is not None, step, votes)


def _vote_summary(votes: Mapping[str, str], comment: str | None) -> str:
    text = "；".join(f"{p}：{DECISIONS[d]}" for p, d in votes.items())
    return f"{text}。{comment}" if comment else text


def _votes(inst: WorkflowInstance) -> dict[str, str]:
    rows = db.session.execute(select(WorkflowVote.party, WorkflowVote.decision)
                              .where(WorkflowVote.instance_id == inst.id, WorkflowVote.step_seq == inst.step_seq)
                              .order_by(WorkflowVote.id))
    return {party: decision for party, decision in rows}


def votes_of(inst: WorkflowInstance) -> dict[str, str]:
    return _votes(inst)


def vote_records(instance_id: int) -> list[WorkflowVote]:
    """Every opinion recorded on a case (all visits), oldest first: which party, who entered it, when."""
    get_instance(instance_id)
    return list(db.session.scalars(select(WorkflowVote).where(WorkflowVote.instance_id == instance_id)
                                   .order_by(WorkflowVote.at, WorkflowVote.id)))

"""The workflow engine's operations, without HTTP: start, act, bulk_act, history, inbox.

Who may act is decided here, from the definition's ``who`` (role and org level) and the
actor's org scope (a town clerk only for cases in the town's subtree). A transition is one
conditional ``UPDATE … WHERE row_version = :v``: of two people acting on the same state one
wins and the other is told the case was already handled. Side-effect tasks are queued on the
session and enqueued after commit (``app.workflows.tasks``), never inside the transaction.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core.errors import CountyDeskError, NotFound, ScopeDenied
from app.core.tenancy import current_scope, current_tenant_id
from app.extensions import db
from app.formulas import FormulaRuntimeError, FType
from app.orgs.models import OrgUnit, PopulationFact
from app.staffing.models import Person
from app.workflows.definition import ROLE_LEVELS, Definition, State, Transition, parse_definition
from app.workflows.models import WorkflowDefinition, WorkflowInstance, WorkflowStep, WorkflowVote
from app.workflows.tasks import queue_step_tasks

DECISIONS = {"approve": "同意", "reject": "不同意"}


class WorkflowError(CountyDeskError):
    status = 400


class AlreadyHandled(CountyDeskError):
    status = 409


@dataclass(frozen=True)
class Actor:
    """Who acts: roles (codes) and the org path they act under (None: the whole county)."""

    user_id: int | None
    roles: frozenset[str]
    capture_path: str | None = None

    def may(self, transition: Transition) -> bool:
        return transition.who.allows(self.roles)

    def covers(self, path: str | None) -> bool:
        return self.capture_path is None or (path or "").startswith(self.capture_path)


SYSTEM = Actor(None, frozenset(ROLE_LEVELS), None)
"""Timers act as the system: any role, whole county."""


def actor_for_user(user: Any) -> Actor:
    """The actor of the current request/command: the user's roles and the scope already computed for it."""
    from app.security.context import is_platform_admin, user_roles

    scope = current_scope()
    if scope is None or scope.read_only:
        return Actor(getattr(user, "id", None), frozenset())
    roles = frozenset(r.code for r in user_roles(user) if not r.read_only)
    if is_platform_admin(user):
        roles = roles | {"county_admin"}
    return Actor(user.id, roles, scope.capture_path)


def _now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


# -- definitions -------------------------------------------------------------------------------

_CACHE: dict[tuple[int, str, int], Definition] = {}
_PARSED: dict[str, Definition] = {}


def load_definition(code: str, version: int | None = None, session: Session | None = None) -> Definition:
    """A stored version (immutable, so cached per tenant), or the latest one."""
    session = session or db.session
    tenant_id = current_tenant_id()
    stmt = select(WorkflowDefinition).where(WorkflowDefinition.code == code)
    if version is not None:
        key = (tenant_id or 0, code, version)
        if key in _CACHE:
            return _CACHE[key]
        stmt = stmt.where(WorkflowDefinition.version == version)
    row = session.scalars(stmt.order_by(WorkflowDefinition.version.desc()).limit(1)).first()
    if row is None:
        raise NotFound(f"没有流程「{code}」" + (f"的第 {version} 版" if version else ""))
    text = json.dumps(row.spec, sort_keys=True, ensure_ascii=False)
    definition = _PARSED.get(text)
    if definition is None:  # counties sharing a process text parse it once
        definition = _PARSED[text] = parse_definition(row.spec, functions=_functions())
    _CACHE[(tenant_id or 0, code, row.version)] = definition
    return definition


def definition_version(code: str, session: Session | None = None) -> int:
    session = session or db.session
    version = session.scalar(select(func.max(WorkflowDefinition.version)).where(WorkflowDefinition.code == code))
    if version is None:
        raise NotFound(f"没有流程「{code}」")
    return int(version)


def _functions() -> Any:
    from app.hooks.formulas import formula_registry

    return formula_registry()


# -- start -------------------------------------------------------------------------------------

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


# -- act ---------------------------------------------------------------------------------------

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
    if transition.returns and not (comment or "").strip():
        raise WorkflowError(f"「{transition.label}」是退回，必须填写退回理由")
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


def subject_values(inst: WorkflowInstance, values: Mapping[str, Any], definition: Definition) -> dict[str, Any]:
    """The variables a condition sees: the case's data, then the subject (person or org unit)."""
    out: dict[str, Any] = {v.code: None for v in definition.variables()}
    if inst.person_id is not None:
        person = db.session.get(Person, inst.person_id)
        if person is not None:
            ref = values.get("reference_date") or dt.date.today().isoformat()
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
    from_state = inst.state
    session.expire(inst)
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
    if party not in approval.parties:
        raise WorkflowError(f"「{transition.label}」需选择会签单位：{'、'.join(approval.parties)}")
    if decision not in DECISIONS:
        raise WorkflowError("意见应为 同意 或 不同意")
    votes = _votes(inst)
    if party in votes:
        raise AlreadyHandled(f"「{party}」已表态（{DECISIONS[votes[party]]}），不能重复表态")
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


# -- bulk --------------------------------------------------------------------------------------

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
        if transition.returns and not (comment or "").strip():
            raise WorkflowError(f"「{transition.label}」是退回，必须填写退回理由")
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


# -- reading -----------------------------------------------------------------------------------

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


@dataclass
class Inbox:
    items: list[InboxItem]
    counts: dict[tuple[str, str], int]
    """(definition name, state label) -> number of cases waiting."""
    overdue: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def inbox(actor: Actor, limit: int = 200) -> Inbox:
    """Cases waiting for an action the actor may take, in their scope, soonest due first."""
    session = db.session
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
        return Inbox([], {})
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
    return Inbox(items, counts, overdue)


def instances_of(code: str | None = None, states: Iterable[str] | None = None) -> list[WorkflowInstance]:
    stmt = select(WorkflowInstance).order_by(WorkflowInstance.id)
    if code:
        stmt = stmt.where(WorkflowInstance.definition_code == code)
    if states:
        stmt = stmt.where(WorkflowInstance.state.in_(list(states)))
    return list(db.session.scalars(stmt))

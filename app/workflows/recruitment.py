"""County recruitment and appraisal rules of a workflow (the ``rules:`` key), checked by the engine.

A county writes its rules as data next to its states, e.g. an SS-5 selection round::

    rules:
      check_at: recommend      # checked when the village recommends (推荐上报)
      candidates: {max: 岗位数 + 1, not_counted: [recommended, rejected],   # 差额1人
                   max_after: 岗位数, after_action: county_approve}   # the city fixes at most the posts
      eligibility: true        # the position's eligibility formula on the round's deadline (SS-2)
      rehire_ban: true         # dismissed within the position's rehire_ban_years (SS-4)
      term_end: batch          # a mid-term filler's term ends with the batch (SS-3)

A *round* is every case of the process for one village, position and cycle year. Its posts are
the vacancies of the latest staffing quota of that village and position (or the case's ``posts``
field, or 1). Every refusal says in Chinese which rule failed and with which inputs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import select

from app.formulas import FormulaRuntimeError, compile_formula
from app.workflows.rules import Rules


class CandidateRefused(ValueError):
    """A candidate the rules do not allow; ``reasons`` lists every rule that failed."""

    def __init__(self, reasons: list[str]):
        self.reasons = reasons
        super().__init__("不能推荐：" + "；".join(reasons))


@dataclass
class RoundInfo:
    position_code: str
    posts: int
    quota: float | None
    vacant: float | None
    candidates: int
    max_candidates: int | None


def reference_date(values: Mapping[str, Any], now: dt.datetime) -> dt.date:
    ref = values.get("reference_date")
    return dt.date.fromisoformat(str(ref)) if ref else now.date()


def age_on(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def round_info(definition: Any, unit_id: int, position_code: str, cycle_year: int,
               values: Mapping[str, Any], person_id: int | None = None) -> RoundInfo:
    """Posts, vacancies and the candidates already in the round (this village, position and year).

    Candidates are distinct people (``person_id``, the one being checked, is not counted against himself).
    """
    from app.core.tenancy import current_tenant_id
    from app.extensions import db
    from app.staffing.models import Position
    from app.staffing.quota_models import StaffingQuota
    from app.workflows.models import WorkflowInstance

    session = db.session
    tenant_id = current_tenant_id()
    q = StaffingQuota.__table__
    p = Position.__table__
    row = session.execute(
        select(q.c.quota, q.c.vacant).join(p, p.c.id == q.c.position_id)
        .where(q.c.tenant_id == tenant_id, q.c.org_unit_id == unit_id, p.c.code == position_code,
               p.c.tenant_id == tenant_id)
        .order_by(q.c.period.desc()).limit(1)).first()
    quota, vacant = (row.quota, row.vacant) if row is not None else (None, None)
    if values.get("posts") is not None:
        posts = int(float(values["posts"]))
    elif vacant is not None:
        posts = int(vacant)
    else:
        posts = 1
    i = WorkflowInstance.__table__
    conds = [i.c.tenant_id == tenant_id, i.c.definition_code == definition.code, i.c.org_unit_id == unit_id,
             i.c.cycle_year == cycle_year]
    rules: Rules = definition.rules or Rules()
    if rules.not_counted:
        conds.append(i.c.state.not_in(rules.not_counted))
    same_position = {pid for pid, r in session.execute(select(i.c.person_id, i.c.data).where(*conds))
                     if (r or {}).get("position_code") == position_code and pid != person_id}
    max_n = None
    if rules.max_candidates is not None:
        value = rules.max_candidates.compute({"posts": posts, "quota": quota, "vacant": vacant})
        max_n = None if value is None else int(float(value))  # type: ignore[arg-type]
    return RoundInfo(position_code, posts, quota, vacant, len(same_position), max_n)


def check_candidate(definition: Any, person: Any, unit: Any, values: Mapping[str, Any], cycle_year: int,
                    now: dt.datetime, action: str | None = None, instance_id: int | None = None) -> None:
    """SS-5 posts + 1, SS-2 eligibility, SS-4 rehire ban: raise :class:`CandidateRefused` with every reason.

    Runs at ``rules.check_at`` (``action``), or when the case starts (``action`` None) if that is unset.
    """
    rules: Rules | None = definition.rules
    if rules is None:
        return
    if action is None and rules.required:
        labels = {f.code: f.label for f in definition.fields}
        missing = [labels[r] for r in rules.required if values.get(r) in (None, "")]
        if missing:
            raise CandidateRefused([f"发起时必须填写：{'、'.join(missing)}"])
    if person is not None and action is None and rules.check_at is not None and values.get("position_code"):
        # the round is checked at ``check_at``; a second case of the same person is refused at once
        start_code = str(values["position_code"])
        lock_round(definition.code, unit.id, start_code, cycle_year)
        duplicate = duplicate_reasons(definition, person, unit, start_code, cycle_year, instance_id)
        if duplicate:
            raise CandidateRefused(duplicate)
    if person is not None and rules.ranking is not None and action == rules.ranking.action:
        ranked = rank_reasons(definition, unit, values, cycle_year, instance_id)
        if ranked:
            raise CandidateRefused(ranked)
    if person is None or rules.check_at != action:
        return
    code = values.get("position_code")
    if not code:
        if rules.max_candidates is not None or rules.eligibility or rules.rehire_ban:
            raise CandidateRefused(["缺少岗位代码（position_code），无法按岗位核对"])
        return
    position = _position(str(code))
    if position is None:
        raise CandidateRefused([f"岗位「{code}」不存在"])
    lock_round(definition.code, unit.id, str(code), cycle_year)  # before counting: one recommender at a time
    reasons = duplicate_reasons(definition, person, unit, str(code), cycle_year, instance_id)
    if rules.max_candidates is not None:
        info = round_info(definition, unit.id, str(code), cycle_year, values, person.id)
        if info.posts <= 0:
            reasons.append(f"「{unit.name}」的「{position.name}」没有空缺岗位（编制 {_n(info.quota)}，"
                           f"空缺 {_n(info.vacant)}），不能开展选聘")
        elif info.max_candidates is not None and info.candidates >= info.max_candidates:
            reasons.append(f"本轮「{unit.name}」{position.name}岗位 {info.posts} 个，最多推荐 {info.max_candidates} "
                           f"名候选人（差额1人），已推荐 {info.candidates} 名")
    day = reference_date(values, now)
    if rules.eligibility:
        reasons.extend(eligibility_reasons(position, person, day))
    if rules.rehire_ban:
        reasons.extend(rehire_ban_reasons(position, person, day))
    if reasons:
        raise CandidateRefused(reasons)


_ROUND_LOCK_NAMESPACE = 0x57464C4B  # "WFLK": keeps these advisory locks apart from any other use


def lock_round(code: str, unit_id: int, position_code: str, cycle_year: int) -> None:
    """Serialise checks of one round until the transaction ends, so two recommenders cannot both pass.

    SS-5's posts + 1 is a count over the round's cases: two clerks recommending at the same moment
    would each count the other's candidate as absent. On PostgreSQL a transaction-level advisory
    lock keyed by the round (tenant, process, village, position, year) makes the second wait until
    the first commits, then count again. There is no round row to ``SELECT … FOR UPDATE``: a round
    is the set of its cases. SQLite allows one writer at a time, so the loser fails to write instead.
    """
    from app.core.locking import advisory_xact_lock
    from app.core.tenancy import current_tenant_id
    from app.extensions import db

    advisory_xact_lock(db.session, _ROUND_LOCK_NAMESPACE,
                       f"{current_tenant_id()}:{code}:{unit_id}:{position_code}:{cycle_year}")


def duplicate_reasons(definition: Any, person: Any, unit: Any, position_code: str, cycle_year: int,
                      instance_id: int | None) -> list[str]:
    """A person recommended twice in one round: any other case of theirs in it that was not turned down.

    Turned down = a final state the round does not count (``not_counted``, e.g. rejected): such a
    person may be recommended again; a pending, recommended or hired case is a duplicate.
    """
    from app.core.tenancy import current_tenant_id
    from app.extensions import db
    from app.workflows.models import WorkflowInstance

    rules: Rules = definition.rules or Rules()
    closed = [s.code for s in definition.states if s.final and s.code in rules.not_counted]
    i = WorkflowInstance.__table__
    conds = [i.c.tenant_id == current_tenant_id(), i.c.definition_code == definition.code,
             i.c.org_unit_id == unit.id, i.c.cycle_year == cycle_year, i.c.person_id == person.id]
    if closed:
        conds.append(i.c.state.not_in(closed))
    if instance_id is not None:
        conds.append(i.c.id != instance_id)
    for other_id, state, data in db.session.execute(select(i.c.id, i.c.state, i.c.data).where(*conds)
                                                     .order_by(i.c.id)):
        if (data or {}).get("position_code") != position_code:
            continue
        label = next((s.label for s in definition.states if s.code == state), str(state))
        return [f"{person.name}在本轮（{unit.name}，岗位 {position_code}，{cycle_year} 年）已有推荐事项"
                f"（第 {other_id} 号，当前环节「{label}」），同一人不能重复推荐"]
    return []


def rank_reasons(definition: Any, unit: Any, values: Mapping[str, Any], cycle_year: int,
                 instance_id: int | None) -> list[str]:
    """GL-2: the candidate's rank by ``ranking.by`` among the round's scored candidates must be within the posts."""
    from app.core.tenancy import current_tenant_id
    from app.extensions import db
    from app.workflows.models import WorkflowInstance

    rules: Rules = definition.rules
    assert rules.ranking is not None
    by, code = rules.ranking.by, values.get("position_code")
    label = next((f.label for f in definition.fields if f.code == by), by)
    mine = values.get(by)
    if mine is None:
        return [f"尚未录入{label}，不能按排名聘用"]
    i = WorkflowInstance.__table__
    conds = [i.c.tenant_id == current_tenant_id(), i.c.definition_code == definition.code,
             i.c.org_unit_id == unit.id, i.c.cycle_year == cycle_year]
    if rules.not_counted:
        conds.append(i.c.state.not_in(rules.not_counted))
    if instance_id is not None:
        conds.append(i.c.id != instance_id)
    others = [d for (d,) in db.session.execute(select(i.c.data).where(*conds))
              if (d or {}).get("position_code") == code and (d or {}).get(by) is not None]
    rank = 1 + sum(1 for d in others if float(d[by]) > float(mine))
    posts = round_info(definition, unit.id, str(code), cycle_year, values).posts if code else 1
    if rank > posts:
        return [f"{label} {float(mine):g} 在本轮 {len(others) + 1} 名考生中排第 {rank} 名，岗位 {posts} 个，"
                f"只能聘用前 {posts} 名"]
    return []


def _n(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


def _position(code: str) -> Any:
    from app.extensions import db
    from app.staffing.models import Position

    return db.session.scalars(select(Position).where(Position.code == code)).first()


def eligibility_reasons(position: Any, person: Any, day: dt.date) -> list[str]:
    """SS-2/GL-2: the position's eligibility formula for the person on ``day``; [] when eligible."""
    from app.hooks.formulas import formula_registry
    from app.staffing.variables import PERSON_VARIABLES

    text = position.eligibility_formula
    if not text:
        return []
    formula = compile_formula(text, list(PERSON_VARIABLES), formula_registry())
    values = {"age": age_on(person.birth_date, day), "education": person.education, "sex": person.sex,
              "birth_date": person.birth_date, "reference_date": day}
    try:
        result = formula.evaluate(values)
    except FormulaRuntimeError as exc:
        return [f"无法核对资格条件「{text}」：{exc}"]
    if result.value is True:
        return []
    inputs = "，".join(f"{label}={'未填' if value is None else value}" for _c, label, value in result.trace)
    return [f"{person.name}不满足岗位「{position.name}」的资格条件「{text}」（截至 {day.isoformat()}：{inputs}）"]


def rehire_ban_reasons(position: Any, person: Any, day: dt.date) -> list[str]:
    """SS-4: dismissed within ``rehire_ban_years`` before ``day`` (the dismissal date is the end date)."""
    from app.extensions import db
    from app.staffing.models import Appointment

    years = position.rehire_ban_years
    if not years:
        return []
    a = Appointment.__table__
    last = db.session.execute(select(sa.func.max(a.c.end_date)).where(
        a.c.person_id == person.id, a.c.status == "dismissed", a.c.tenant_id == person.tenant_id)).scalar()
    if last is None:
        return []
    free_from = _add_years(last, years)
    if day >= free_from:
        return []
    return [f"{person.name}于 {last.isoformat()} 被解聘，{years} 年内不得再聘（{free_from.isoformat()} 起方可）"]


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def term_end(session: Any, instance: Any, position: Any, start: dt.date) -> dt.date | None:
    """SS-3: with ``term_end: batch`` a mid-term filler ends with the current batch; None = a full term.

    The batch end is the latest end date of the position's other active appointments in the county
    that is after ``start`` and sooner than a full term would end.
    """
    from app.staffing.models import Appointment
    from app.workflows.models import WorkflowDefinition

    spec = session.scalar(select(WorkflowDefinition.spec).where(
        WorkflowDefinition.code == instance.definition_code,
        WorkflowDefinition.version == instance.definition_version))
    if not spec or (spec.get("rules") or {}).get("term_end") != "batch":
        return None
    full = _add_years(start, position.term_years or 3) - dt.timedelta(days=1)
    a = Appointment.__table__
    batch = session.execute(select(sa.func.max(a.c.end_date)).where(
        a.c.tenant_id == instance.tenant_id, a.c.position_code == position.code, a.c.status == "active",
        a.c.person_id != instance.person_id, a.c.end_date > start, a.c.end_date < full)).scalar()
    return batch


def fixed_states(definition: Any) -> set[str]:
    """States a candidate is in once ``after_action`` fixed them: forward from its target, not counting returns.

    Returns (``returns: true``) lead back before the fixing step, so they are not followed. Final
    states are left out: a rejected candidate freed the place, and one already hired filled a post —
    a later case in the same round fills another vacancy (a mid-term filler, SS-3).
    """
    rules: Rules = definition.rules or Rules()
    if rules.after_action is None:
        return set()
    start = definition.transition(rules.after_action).to
    reached, todo = {start}, [start]
    while todo:
        here = todo.pop()
        for t in definition.transitions:
            if here in t.from_states and not t.returns and t.to not in reached:
                reached.add(t.to)
                todo.append(t.to)
    return reached - set(rules.not_counted) - {s.code for s in definition.states if s.final}


def fixed_reasons(definition: Any, unit: Any, values: Mapping[str, Any], cycle_year: int,
                  instance_id: int | None) -> list[str]:
    """SS-5: fixing one more candidate at ``after_action`` must keep the round within ``max_after`` (the posts).

    Counted are the round's other cases already past the fixing step (distinct people). Takes the
    round's lock first, like the posts + 1 check, so two fixings at once cannot both pass.
    """
    from app.core.tenancy import current_tenant_id
    from app.extensions import db
    from app.workflows.models import WorkflowInstance

    rules: Rules = definition.rules or Rules()
    code = values.get("position_code")
    if rules.max_after is None or not code:
        return []
    lock_round(definition.code, unit.id, str(code), cycle_year)
    info = round_info(definition, unit.id, str(code), cycle_year, values)
    value = rules.max_after.compute({"posts": info.posts, "quota": info.quota, "vacant": info.vacant})
    if value is None:
        return []
    limit = int(float(value))  # type: ignore[arg-type]
    i = WorkflowInstance.__table__
    conds = [i.c.tenant_id == current_tenant_id(), i.c.definition_code == definition.code,
             i.c.org_unit_id == unit.id, i.c.cycle_year == cycle_year, i.c.state.in_(fixed_states(definition))]
    if instance_id is not None:
        conds.append(i.c.id != instance_id)
    fixed = {pid for pid, d in db.session.execute(select(i.c.person_id, i.c.data).where(*conds))
             if (d or {}).get("position_code") == code}
    if len(fixed) < limit:
        return []
    position = _position(str(code))
    name = position.name if position is not None else str(code)
    label = definition.transition(rules.after_action).label
    return [f"本轮「{unit.name}」{name}岗位 {info.posts} 个，「{label}」确定的候选人不能超过 {limit} 名，"
            f"已确定 {len(fixed)} 名"]

"""Appraisal results per person and period: SS-7's annual grade, GL-5/CC-3's monthly scores and ranks.

A monthly scheme is county configuration (``settings.appraisal.monthly`` in tenant.yaml)::

    appraisal:
      monthly:
        scheme: GL5
        position: RKZR
        items:                       # each item scored 0–max; total = Σ score × weight / Σ weight
          - {code: de, label: 德, weight: 15}
          ...
        last_place: 县内名次 = 县内人数         # 末位 flag (formula over grade, total, ranks, counts)
        annual:                      # the year's result from its months
          total: 月均分
          grade: IFS(月均分 >= 90, "优秀", 月均分 >= 60, "合格", 月均分 < 60, "不合格")

Ranking is one set-based ``UPDATE … FROM (SELECT … RANK() OVER (PARTITION BY town …))`` that runs
the same on SQLite and PostgreSQL; the 末位 flag is the county's formula compiled to SQL in that
same statement's data. The annual derivation aggregates the months in SQL and evaluates the
county's formulas per person (a county has hundreds of people, not millions).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, select

from app.core import clock
from app.core.errors import CountyDeskError, NotFound
from app.core.tenancy import current_tenant_id
from app.core.text_rules import period_regex
from app.extensions import db
from app.formulas import FormulaError, FormulaRuntimeError, FType, Variable, compile_formula
from app.formulas.formula import Formula
from app.orgs.models import OrgUnit
from app.staffing.models import Appointment, Person
from app.workflows.appraisal_models import AppraisalResult
from app.workflows.rules import RESULT_VARIABLES
from app.workflows.terms import SettingsError, refuse, settings_at
from app.workflows.terms import tenant_settings as tenant_settings  # its old home; callers may import it here

MONTH_RE = period_regex("monthly")  # ASCII digits only (not ２０２５-03)
YEAR_RE = period_regex("yearly")
ANNUAL_VARIABLES: tuple[Variable, ...] = (
    Variable("avg", "月均分", FType.NUMBER),
    Variable("min", "最低月分", FType.NUMBER),
    Variable("max", "最高月分", FType.NUMBER),
    Variable("months", "月数", FType.NUMBER),
    Variable("last_places", "末位次数", FType.NUMBER),
)
"""What the annual formulas may use: the months' average, lowest and highest total, their count
and how often the person was flagged last."""


class AppraisalConfigError(SettingsError):
    """``settings.appraisal`` is wrong or missing."""


class AppraisalInputError(CountyDeskError):
    """Scores or a period a user entered are wrong (400): nothing was recorded."""


@dataclass(frozen=True)
class Item:
    code: str
    label: str
    weight: float
    max: float = 100.0


@dataclass(frozen=True)
class MonthlyScheme:
    scheme: str
    position: str | None
    items: tuple[Item, ...]
    last_place: Formula | None
    annual_total: Formula | None
    annual_grade: Formula | None

    @property
    def weight_sum(self) -> float:
        return sum(i.weight for i in self.items)


# -- configuration -----------------------------------------------------------------------------

def monthly_scheme(settings: Mapping[str, Any] | None = None) -> MonthlyScheme:
    """The county's monthly scheme, validated; every problem in one Chinese message."""
    raw = settings_at(settings, "appraisal", "monthly")
    if not isinstance(raw, Mapping):
        raise AppraisalConfigError("本县（区）未配置月度考核（tenant.yaml 的 settings.appraisal.monthly）")
    problems: list[str] = []
    items: list[Item] = []
    raw_items = raw.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        problems.append("settings.appraisal.monthly.items：至少要有一个考核项目")
        raw_items = []
    for i, it in enumerate(raw_items):
        where = f"settings.appraisal.monthly.items[{i}]"
        if not isinstance(it, Mapping) or not isinstance(it.get("code"), str):
            problems.append(f"{where}：应为 {{code, label, weight}}")
            continue
        weight, top = it.get("weight"), it.get("max", 100)
        if not isinstance(weight, int | float) or isinstance(weight, bool) or weight <= 0:
            problems.append(f"{where}.weight：权重应为正数（得到「{weight}」）")
            continue
        if not isinstance(top, int | float) or top <= 0:
            problems.append(f"{where}.max：满分应为正数（得到「{top}」）")
            continue
        items.append(Item(it["code"], str(it.get("label") or it["code"]), float(weight), float(top)))
    from app.hooks.formulas import formula_registry

    functions = formula_registry()

    def formula(text: Any, variables: tuple[Variable, ...], ftype: FType, where: str) -> Formula | None:
        if text is None:
            return None
        try:
            f = compile_formula(str(text), list(variables), functions)
        except FormulaError as exc:
            problems.append(f"{where}：公式「{text}」有误：{exc}")
            return None
        if f.result_type is not ftype:
            problems.append(f"{where}：公式「{text}」的结果应为{ftype.zh}")
            return None
        return f

    base = "settings.appraisal.monthly"
    last = formula(raw.get("last_place"), RESULT_VARIABLES, FType.BOOL, f"{base}.last_place")
    annual = raw.get("annual") or {}
    total = formula(annual.get("total"), ANNUAL_VARIABLES, FType.NUMBER, f"{base}.annual.total")
    grade = formula(annual.get("grade"), ANNUAL_VARIABLES, FType.TEXT, f"{base}.annual.grade")
    refuse(AppraisalConfigError, "月度考核", problems)
    return MonthlyScheme(str(raw.get("scheme") or "monthly"), raw.get("position"), tuple(items), last, total, grade)


# -- monthly scores ----------------------------------------------------------------------------

def weighted_total(scheme: MonthlyScheme, scores: Mapping[str, Any], who: str = "") -> tuple[dict[str, float], float]:
    """Checked item scores and Σ score × weight / Σ weight (rounded to 2 places)."""
    known = {i.code: i for i in scheme.items} | {i.label: i for i in scheme.items}
    out: dict[str, float] = {}
    for key, value in scores.items():
        item = known.get(key)
        if item is None:
            labels = "、".join(i.label for i in scheme.items)
            raise AppraisalInputError(f"{who}：没有考核项目「{key}」（可填：{labels}）")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise AppraisalInputError(f"{who}「{item.label}」的分数「{value}」不是数字") from None
        if not 0 <= number <= item.max:
            raise AppraisalInputError(f"{who}「{item.label}」的分数 {number:g} 应在 0–{item.max:g} 之间")
        out[item.code] = number
    missing = [i.label for i in scheme.items if i.code not in out]
    if missing:
        raise AppraisalInputError(f"{who}缺少考核项目：{'、'.join(missing)}")
    total = sum(out[i.code] * i.weight for i in scheme.items) / scheme.weight_sum
    return out, round(total, 2)


def record_month(period: str, scores: Mapping[int, Mapping[str, Any]], *, commit: bool = True) -> int:
    """GL-5/CC-3: store one month's item scores of people (person id -> {item: score}), then rank the month.

    People, their appointments and existing rows are read in three queries, not per person: a
    town's sheet or a county's import is hundreds of people.
    """
    if not MONTH_RE.match(period):
        raise AppraisalInputError(f"月份应写作 2025-03（得到「{period}」）")
    scheme = monthly_scheme()
    session = db.session
    day = dt.date(int(period[:4]), int(period[5:]), 1)
    ids = list(scores)
    people = {p.id: p for p in session.scalars(select(Person).where(Person.id.in_(ids)))}
    existing = {r.person_id: r for r in session.scalars(select(AppraisalResult).where(
        AppraisalResult.person_id.in_(ids), AppraisalResult.scheme == scheme.scheme,
        AppraisalResult.period == period))}
    appts = _appointments_on(ids, scheme.position, day)
    unit_ids = {a.org_unit_id for a in appts.values()} | {p.org_unit_id for p in people.values() if p.org_unit_id}
    list(session.scalars(select(OrgUnit).where(OrgUnit.id.in_(unit_ids))))  # into the identity map: no lazy loads
    with session.no_autoflush:
        for person_id, item_scores in scores.items():
            person = people.get(person_id)
            if person is None:
                raise NotFound(f"人员 {person_id} 不存在")
            checked, total = weighted_total(scheme, item_scores, person.name)
            appt = appts.get(person.id)
            unit = appt.org_unit if appt is not None else person.org_unit
            if unit is None:
                raise AppraisalInputError(f"{person.name}没有所属村（社区），无法排名")
            row = existing.get(person.id)
            if row is None:
                row = AppraisalResult(person=person, org_unit=unit, period=period, scheme=scheme.scheme)
                session.add(row)
            row.appointment = appt  # the object, not the id: a pending row's reference is checked by object
            row.scores, row.total = checked, total
    session.flush()
    rank_period(scheme.scheme, period, scheme.last_place)
    if commit:
        session.commit()
    return len(scores)


def _appointments_on(person_ids: list[int], position: str | None, day: dt.date) -> dict[int, Appointment]:
    """Each person's appointment in force on ``day`` (the latest started), in one query."""
    stmt = select(Appointment).where(Appointment.person_id.in_(person_ids), Appointment.start_date <= day,
                                     sa.or_(Appointment.end_date.is_(None), Appointment.end_date >= day))
    if position:
        stmt = stmt.where(Appointment.position_code == position)
    out: dict[int, Appointment] = {}
    for appt in db.session.scalars(stmt.order_by(Appointment.start_date.desc(), Appointment.id.desc())):
        out.setdefault(appt.person_id, appt)
    return out


_RANK_LOCK_NAMESPACE = 0x41505252  # "APRR": apart from the recruitment rounds' advisory locks


def rank_period(scheme: str, period: str, last_place: Formula | None = None, session: Any = None) -> int:
    """Ranks within town (the village's parent) and county by total, ties sharing a rank; 末位 by formula.

    One ``UPDATE … FROM`` over a window-function subquery (SQLite ≥ 3.33 and PostgreSQL alike).
    The stored ranks count from the top (two people tied for 2nd are both 2nd). The 末位 formula
    sees ranks counted from the bottom instead, so people tied for last are all last: with
    totals 90, 80, 80 both 80s are 3rd of 3 there (a top-counted rank would make them 2nd of 3 and
    ``县内名次 = 县内人数`` would flag nobody).
    """
    from app.core.locking import advisory_xact_lock

    session = session if session is not None else db.session
    tenant_id = current_tenant_id()
    # Two confirmations at once would each rank without the other's uncommitted result; ranking
    # one (scheme, period) at a time makes the later one see the earlier one's row.
    advisory_xact_lock(session, _RANK_LOCK_NAMESPACE, f"{tenant_id}:{scheme}:{period}")
    r, ou = AppraisalResult.__table__, OrgUnit.__table__
    town = ou.c.parent_id
    town_count = func.count().over(partition_by=town)
    county_count = func.count().over()
    ranked = (
        select(r.c.id.label("rid"), r.c.grade.label("grade"), r.c.total.label("total"),
               func.rank().over(partition_by=town, order_by=r.c.total.desc()).label("rank_in_town"),
               town_count.label("town_count"),
               func.rank().over(order_by=r.c.total.desc()).label("rank_in_county"),
               county_count.label("county_count"),
               (town_count - func.rank().over(partition_by=town, order_by=r.c.total.asc()) + 1)
               .label("last_rank_in_town"),
               (county_count - func.rank().over(order_by=r.c.total.asc()) + 1).label("last_rank_in_county"))
        .join(ou, ou.c.id == r.c.org_unit_id)
        .where(r.c.tenant_id == tenant_id, r.c.scheme == scheme, r.c.period == period, r.c.total.is_not(None))
    ).subquery("ranked")
    flag: Any = sa.false()
    if last_place is not None:
        cols = {c: ranked.c[c] for c in ("grade", "total", "town_count", "county_count")}
        cols |= {"rank_in_town": ranked.c.last_rank_in_town, "rank_in_county": ranked.c.last_rank_in_county}
        flag = sa.func.coalesce(last_place.to_sql(cols), sa.false())
    result = session.execute(
        r.update().where(r.c.id == ranked.c.rid, r.c.tenant_id == tenant_id)
        .values(rank_in_town=ranked.c.rank_in_town, rank_in_county=ranked.c.rank_in_county, last_place=flag,
                updated_at=func.current_timestamp())
        .execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def derive_annual(year: int, *, commit: bool = True) -> int:
    """The year's result per person from its months, by the county's ``annual`` formulas; then ranked."""
    scheme = monthly_scheme()
    if scheme.annual_total is None and scheme.annual_grade is None:
        raise AppraisalConfigError("本县（区）未配置年度结果公式（settings.appraisal.monthly.annual）")
    session = db.session
    r = AppraisalResult.__table__
    tenant_id = current_tenant_id()
    months = [f"{year}-{m:02d}" for m in range(1, 13)]
    rows = session.execute(
        select(r.c.person_id, func.avg(r.c.total), func.min(r.c.total), func.max(r.c.total), func.count(r.c.total),
               func.sum(sa.case((r.c.last_place, 1), else_=0)), func.max(r.c.period))
        .where(r.c.tenant_id == tenant_id, r.c.scheme == scheme.scheme, r.c.period.in_(months))
        .group_by(r.c.person_id)).all()
    period = str(year)
    by_key = {(x.person_id, x.period): x for x in session.scalars(select(AppraisalResult).where(
        AppraisalResult.scheme == scheme.scheme, AppraisalResult.period.in_([*{m for *_r, m in rows}, period])))}
    with session.no_autoflush:  # lazy loads of the month rows' person and unit must not flush each new row
        for person_id, avg, low, high, n, lasts, last_month in rows:
            values = {"avg": round(float(avg), 2), "min": low, "max": high, "months": n, "last_places": int(lasts or 0)}
            try:
                total = scheme.annual_total.compute(values) if scheme.annual_total else values["avg"]
                grade = scheme.annual_grade.compute(values) if scheme.annual_grade else None
            except FormulaRuntimeError as exc:
                raise AppraisalConfigError(f"年度结果公式无法计算（人员 {person_id}）：{exc}") from None
            month_row = by_key[(person_id, last_month)]
            row = by_key.get((person_id, period))
            if row is None:
                row = AppraisalResult(person=month_row.person, org_unit=month_row.org_unit, period=period,
                                      scheme=scheme.scheme)
                session.add(row)
            row.appointment = month_row.appointment
            row.scores = values
            row.total = None if total is None else round(float(total), 2)  # type: ignore[arg-type]
            row.grade = None if grade is None else str(grade)
    session.flush()
    rank_period(scheme.scheme, period, scheme.last_place)
    if commit:
        session.commit()
    return len(rows)


# -- SS-7: the case's final grade (annual, or term-end) ----------------------------------------

def record_case_grade(session: Any, instance: Any, rules: Any) -> AppraisalResult:
    """Write the final grade of a finished appraisal case (idempotent: one row per person, scheme and year).

    A term-end case (考核类别 = 聘期考核) is stored under the county's term-end scheme, linked to the
    appointment whose term it appraised; an annual one under the workflow's scheme. With a
    ``total_field`` the year's results of that scheme are ranked again at each confirmation, so
    the 末位 flag is always about the results confirmed so far (it moves when a lower one comes).
    """
    from app.workflows.appraisal_term import END_FIELD, KIND_FIELD, TERM_KIND, term_appointment_id, term_scheme

    rule = rules.appraisal
    data = instance.data or {}
    grade = data.get(rule.grade_field)
    if not grade:
        raise ValueError(f"考核结果缺少等次（字段 {rule.grade_field}）")
    period = str(instance.cycle_year)
    term = data.get(KIND_FIELD) == TERM_KIND
    scheme = term_scheme(session, instance.tenant_id, rule.scheme) if term else rule.scheme
    row = session.scalars(select(AppraisalResult).where(
        AppraisalResult.person_id == instance.person_id, AppraisalResult.scheme == scheme,
        AppraisalResult.period == period)).first()
    if row is None:
        row = AppraisalResult(person=session.get(Person, instance.person_id),
                              org_unit=session.get(OrgUnit, instance.org_unit_id), period=period, scheme=scheme)
        session.add(row)
    appt = term_appointment_id(session, instance.tenant_id, instance.person_id, data.get(END_FIELD)) if term else None
    if appt is None:
        appt = session.scalars(select(Appointment.id).where(
            Appointment.person_id == instance.person_id, Appointment.status == "active")
            .order_by(Appointment.start_date.desc()).limit(1)).first()
    row.appointment = session.get(Appointment, appt) if appt is not None else None
    row.grade = str(grade)
    total = data.get(rule.total_field) if rule.total_field else None
    row.total = None if total is None else round(float(total), 2)
    row.scores = {k: v for k, v in data.items() if v is not None}
    row.source_instance = instance
    row.updated_at = clock.utcnow_naive().replace(microsecond=0)
    if row.total is not None:
        session.flush()
        rank_period(scheme, period, rule.last_place, session=session)
        session.refresh(row)
    elif rule.last_place is not None:
        try:
            row.last_place = rule.last_place.compute({"grade": row.grade, "total": row.total}) is True
        except (FormulaError, KeyError):  # a rule over ranks, and no total to rank by: not last
            row.last_place = False
    return row


def open_term_end_appraisals(today: dt.date | None = None) -> int:
    """SS-7 聘期考核, run once a day per county: the term-end cases due today (opened or converted).

    See ``app.workflows.appraisal_term`` for the configuration and the cycle rule.
    """
    from app.workflows.appraisal_term import open_term_end_appraisals as run

    return run(today).total


def year_result(person_id: int, year: int) -> AppraisalResult | None:
    """What pay rules read for a year (SS-6 performance pay): the person's graded result of that year.

    In a term's last cycle the term-end grade takes the place of the annual one; if both exist the
    later decision wins. Monthly rows are never returned (their period is a month).
    """
    return db.session.scalars(select(AppraisalResult).where(
        AppraisalResult.person_id == person_id, AppraisalResult.period == str(year),
        AppraisalResult.grade.is_not(None))
        .order_by(AppraisalResult.updated_at.desc(), AppraisalResult.id.desc()).limit(1)).first()


# -- reading -----------------------------------------------------------------------------------

@dataclass
class BulletinRow:
    rank_in_town: int | None
    rank_in_county: int | None
    person: str
    village: str
    total: float | None
    grade: str | None
    last_place: bool
    scores: dict[str, Any]


@dataclass
class Bulletin:
    scheme: MonthlyScheme
    period: str
    towns: list[tuple[str, list[BulletinRow]]]

    @property
    def count(self) -> int:
        return sum(len(rows) for _t, rows in self.towns)


def bulletin(period: str) -> Bulletin:
    """月通报: the month's (or year's) results grouped by town, in rank order (scoped like every read)."""
    if not (MONTH_RE.match(period) or YEAR_RE.match(period)):
        raise AppraisalInputError(f"期间应写作 2025-03 或 2025（得到「{period}」）")
    scheme = monthly_scheme()
    session = db.session
    village, town = sa.orm.aliased(OrgUnit), sa.orm.aliased(OrgUnit)
    rows = session.execute(
        select(AppraisalResult, Person.name, village.name, town.name, town.code)
        .join(Person, Person.id == AppraisalResult.person_id)
        .join(village, village.id == AppraisalResult.org_unit_id)
        .outerjoin(town, town.id == village.parent_id)
        .where(AppraisalResult.scheme == scheme.scheme, AppraisalResult.period == period)
        .order_by(town.code, AppraisalResult.rank_in_town, Person.name)).all()
    towns: dict[str, list[BulletinRow]] = {}
    for res, name, village_name, town_name, _code in rows:
        towns.setdefault(town_name or "—", []).append(BulletinRow(
            res.rank_in_town, res.rank_in_county, name, village_name, res.total, res.grade, res.last_place,
            dict(res.scores or {})))
    return Bulletin(scheme, period, list(towns.items()))


def record_appraisal_task(ctx: Any) -> None:
    """Task ``record_appraisal`` (SS-7): the case's final grade into ``appraisal_result``, per its ``rules``."""
    from app.hooks.formulas import formula_registry
    from app.workflows.definition import parse_definition
    from app.workflows.models import WorkflowDefinition

    inst = ctx.instance
    spec = ctx.session.scalar(select(WorkflowDefinition.spec).where(
        WorkflowDefinition.code == inst.definition_code, WorkflowDefinition.version == inst.definition_version))
    definition = parse_definition(spec, functions=formula_registry())
    if definition.rules is None or definition.rules.appraisal is None:
        raise ValueError(f"流程「{definition.name}」未配置考核结果规则（rules.appraisal）")
    record_case_grade(ctx.session, inst, definition.rules)


def scoring_sheet(period: str) -> tuple[MonthlyScheme, list[tuple[Person, OrgUnit, AppraisalResult | None]]]:
    """Who may be scored for ``period`` by the current user: people serving the scheme's position in scope."""
    from app.core.tenancy import current_scope

    if not MONTH_RE.match(period):
        raise AppraisalInputError(f"月份应写作 2025-03（得到「{period}」）")
    scheme = monthly_scheme()
    day = dt.date(int(period[:4]), int(period[5:]), 1)
    stmt = (select(Person, OrgUnit).join(Appointment, Appointment.person_id == Person.id)
            .join(OrgUnit, OrgUnit.id == Appointment.org_unit_id)
            .where(Appointment.start_date <= day + dt.timedelta(days=27),
                   sa.or_(Appointment.end_date.is_(None), Appointment.end_date >= day))
            .order_by(OrgUnit.path, Person.name))  # no DISTINCT: PostgreSQL cannot compare JSON columns
    if scheme.position:
        stmt = stmt.where(Appointment.position_code == scheme.position)
    scope = current_scope()
    if scope is not None and scope.capture_path is not None:
        stmt = stmt.where(OrgUnit.path.startswith(scope.capture_path))
    seen: set[int] = set()
    people = []
    for person, unit in db.session.execute(stmt).all():
        if person.id not in seen:
            seen.add(person.id)
            people.append((person, unit))
    existing = {r.person_id: r for r in db.session.scalars(select(AppraisalResult).where(
        AppraisalResult.scheme == scheme.scheme, AppraisalResult.period == period))}
    return scheme, [(p, u, existing.get(p.id)) for p, u in people]

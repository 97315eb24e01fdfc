"""Staffing quotas recomputed set-based in the database: quota, staffed, vacant and over per unit.

Why set-based: one county is a few hundred villages, the country 600,000; a Python loop over
rows would be seconds per county and minutes nationally. For each distinct formula in force
(one per position and rule version, or shared by many tenants' positions) one
``INSERT … SELECT`` computes the quota with the formula compiled to SQL (``Formula.to_sql``)
and counts the staff with a join to an aggregate of appointments; one ``INSERT … SELECT …
GROUP BY`` per org level rolls the rows up to towns and the county. The rows go to a temporary
table first; a merge then deletes the period's rows no longer computed, updates only rows whose
figures changed and inserts new ones, so a recompute after a small change writes little and
unchanged rows keep their ids. All of it runs in one transaction: a failure leaves the previous
figures untouched.

Definitions (docs/staffing.md):
- judged date D = end of the period (31 Dec for ``2025``, last day of the month for ``2025-03``);
- staffed = appointments of the position at the unit with ``start_date ≤ D`` and either status
  ``active`` or an ``end_date ≥ D`` (ended or dismissed after D); a dismissal or end before D, or an
  ``ended``/``dismissed`` row without an end date, does not count;
- vacant = max(quota − staffed, 0), over = max(staffed − quota, 0); NULL when the quota is NULL;
- rollups are sums of the children's quota, staffed, vacant and over (a vacancy in one village is
  not offset by over-staffing in another); a rollup's quota is NULL if any child's quota is NULL.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import case, func, select

from app.core.errors import CountyDeskError, ScopeDenied
from app.core.tenancy import current_scope
from app.extensions import db
from app.formulas import Formula
from app.orgs.models import ORG_LEVEL_LABELS, ORG_LEVELS, OrgUnit, PopulationFact
from app.orgs.variables import ORG_UNIT_VARIABLES
from app.staffing.models import Appointment, Position
from app.staffing.quota_models import PositionRule, StaffingQuota
from app.staffing.rules import RuleInForce, compile_rule, ensure_rules, null_reason, period_end, rules_in_force

audit_log = logging.getLogger("countydesk.audit")
Progress = Callable[[int, int, str], None]
WORK_MEM = "128MB"
LOCK_KEY = 0x5171_0003  # PostgreSQL advisory lock held by a recompute for its transaction
NULL_SAMPLE = 200
"""How many rows without a quota are listed with their reason (all are counted)."""


class QuotaIncomplete(CountyDeskError):
    """Strict recompute: some quotas could not be computed, so nothing was saved."""

    status = 422

    def __init__(self, message: str, report: RecomputeReport):
        super().__init__(message)
        self.report = report


@dataclass
class NullQuota:
    org_code: str
    org_name: str
    position_code: str
    reason: str


@dataclass
class RecomputeReport:
    period: str
    tenant_ids: list[int] | None
    rows: int = 0
    rollup_rows: int = 0
    statements: int = 0
    rules: list[RuleInForce] = field(default_factory=list)
    null_count: int = 0
    null_quotas: list[NullQuota] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        text = (f"{self.period}：按{len(self.rules)}条规则计算了{self.rows}个单位的定额，"
                f"汇总{self.rollup_rows}行，用时{self.seconds:.2f}秒")
        if self.null_count:
            text += f"；{self.null_count}行无法计算定额（见下）"
        return text


def recompute_quotas(period: str, *, strict: bool = False, progress: Progress | None = None) -> RecomputeReport:
    """Recompute the current tenant's quotas for ``period`` (replacing that period's rows)."""
    scope = current_scope()
    if scope is None or scope.tenant_id is None:
        raise ScopeDenied("没有选定县（租户），不能计算定额")
    return _recompute([scope.tenant_id], period, strict, progress)


def recompute_all_tenants(period: str, *, strict: bool = False,
                          progress: Progress | None = None) -> RecomputeReport:
    """Every tenant's quotas in one set-based transaction (platform jobs and benchmarks)."""
    return _recompute(None, period, strict, progress)


def _recompute(tenant_ids: list[int] | None, period: str, strict: bool,
               progress: Progress | None) -> RecomputeReport:
    scope = current_scope()
    if scope is not None and scope.read_only:
        raise ScopeDenied("只读用户不能计算定额")
    judged = period_end(period)
    started = time.perf_counter()
    report = RecomputeReport(period, tenant_ids)
    session = db.session
    try:
        conn = session.connection()
        if conn.dialect.name == "postgresql":
            # One recompute at a time (two would collide on the unique key); a batch may hash in memory.
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
            conn.execute(sa.text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
        if tenant_ids is None:
            _across_tenants(conn, period)
        ensure_rules(conn, tenant_ids)
        report.rules = rules_in_force(conn, tenant_ids, "quota", judged)
        groups = _group(report.rules)
        levels = _rollup_levels(report.rules)
        steps = len(groups) + len(levels) + 2
        _step(progress, 1, steps, "准备计算")
        stage = _stage_table(conn)
        now = dt.datetime.now().replace(microsecond=0)
        for n, ((text, _level), rules) in enumerate(groups.items(), start=2):
            _step(progress, n, steps, f"计算定额：{text}")
            report.rows += _insert_base(conn, stage, compile_rule("quota", text), rules, period, judged, tenant_ids,
                                        now)
            report.statements += 1
        for n, (level, lower) in enumerate(levels, start=len(groups) + 2):
            _step(progress, n, steps, f"汇总到{ORG_LEVEL_LABELS[level]}")
            report.rollup_rows += _insert_rollup(conn, stage, level, lower, period, now)
            report.statements += 1
        _step(progress, steps, steps, "保存有变化的行")
        _merge(conn, stage, period, tenant_ids)
        _collect_nulls(conn, report, period, tenant_ids)
        if strict and report.null_count:
            raise QuotaIncomplete(f"{report.null_count}行无法计算定额，本次计算未保存", report)
        session.commit()
    except Exception:
        session.rollback()
        raise
    report.seconds = time.perf_counter() - started
    _step(progress, 1, 1, report.summary())
    return report


def _step(progress: Progress | None, done: int, total: int, message: str) -> None:
    if progress is not None:
        progress(done, total, message)


def _across_tenants(conn: sa.Connection, period: str) -> None:
    """Writing every tenant's rows: audited, and row-level security told for this transaction only."""
    scope = current_scope()
    audit_log.info("cross-tenant write by user %s: staffing quotas of %s", scope.user_id if scope else None, period)
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT set_config('countydesk.all_tenants', 'on', true)"))


def _tenant_filter(table: Any, tenant_ids: Sequence[int] | None) -> Any:
    """Core statements are not scoped by the ORM: every one names its tenants (``None``: all)."""
    return sa.true() if tenant_ids is None else table.c.tenant_id.in_(list(tenant_ids))


def _group(rules: list[RuleInForce]) -> dict[tuple[str, str], list[RuleInForce]]:
    """Positions whose rule in force has the same text and level share one statement."""
    groups: dict[tuple[str, str], list[RuleInForce]] = {}
    for rule in rules:
        groups.setdefault((rule.formula.strip(), rule.org_level), []).append(rule)
    return groups


def _rollup_levels(rules: list[RuleInForce]) -> list[tuple[str, list[str]]]:
    """Levels to roll up to, bottom-up, each with the position levels below it."""
    used = {r.org_level for r in rules}
    out = []
    for index in range(len(ORG_LEVELS) - 2, -1, -1):
        lower = list(ORG_LEVELS[index + 1:])
        if used & set(lower):
            out.append((ORG_LEVELS[index], lower))
    return out


def _json_object(conn: sa.Connection, pairs: list[tuple[str, Any]]) -> Any:
    """A JSON object built in SQL; keys are our own identifiers, inlined as constants."""
    name = "json_build_object" if conn.dialect.name == "postgresql" else "json_object"
    args: list[Any] = []
    for key, value in pairs:
        args += [sa.literal_column(f"'{key}'"), value]
    return getattr(func, name)(*args, type_=sa.JSON)


def _join_facts(source: Any, ou: Any, period: str) -> tuple[Any, dict[str, Any], Any]:
    """Join each unit's population fact of the period; a month without its own facts uses the year's."""
    facts = PopulationFact.__table__
    codes = [v.code for v in ORG_UNIT_VARIABLES]
    own = facts.alias("pf")
    source = source.outerjoin(own, sa.and_(own.c.tenant_id == ou.c.tenant_id, own.c.org_unit_id == ou.c.id,
                                           own.c.period == period))
    if len(period) == 4:
        return source, {c: own.c[c] for c in codes}, case((own.c.id.is_not(None), period))
    year = facts.alias("pf_year")
    source = source.outerjoin(year, sa.and_(year.c.tenant_id == ou.c.tenant_id, year.c.org_unit_id == ou.c.id,
                                            year.c.period == period[:4]))
    have_own = own.c.id.is_not(None)
    columns = {c: case((have_own, own.c[c]), else_=year.c[c]) for c in codes}
    return source, columns, case((have_own, period), (year.c.id.is_not(None), period[:4]))


def _staffed(tenant_ids: Sequence[int] | None, codes: list[str], judged: dt.date) -> Any:
    a = Appointment.__table__
    counts_on_date = sa.or_(a.c.status == "active", a.c.end_date >= judged)
    return (select(a.c.org_unit_id, a.c.position_code, func.count().label("n"))
            .where(_tenant_filter(a, tenant_ids), a.c.position_code.in_(codes), a.c.start_date <= judged,
                   counts_on_date)
            .group_by(a.c.org_unit_id, a.c.position_code)).subquery("staff")


def _gaps(quota: Any, staffed: Any) -> tuple[Any, Any]:
    vacant = case((quota.is_(None), sa.null()), (quota > staffed, quota - staffed), else_=0.0)
    over = case((quota.is_(None), sa.null()), (staffed > quota, staffed - quota), else_=0.0)
    return vacant, over


_COUNT_ROWS = {"preserve_rowcount": True}  # SQLAlchemy keeps an INSERT's rowcount only when asked
_COLUMNS = ["tenant_id", "org_unit_id", "position_id", "period", "quota", "staffed", "vacant", "over", "rule_id",
            "inputs", "computed_at"]


def _insert_base(conn: sa.Connection, stage: sa.Table, formula: Formula, rules: list[RuleInForce], period: str,
                 judged: dt.date, tenant_ids: Sequence[int] | None, now: dt.datetime) -> int:
    """One ``INSERT … SELECT`` for every unit of the level of the positions sharing this formula."""
    ou, pos, r = OrgUnit.__table__.alias("ou"), Position.__table__.alias("pos"), PositionRule.__table__.alias("r")
    source: Any = (r.join(pos, pos.c.id == r.c.position_id)
                   .join(ou, sa.and_(ou.c.tenant_id == pos.c.tenant_id, ou.c.level == pos.c.org_level)))
    pairs: list[tuple[str, Any]] = []
    columns: dict[str, Any] = {}
    if formula.variables_used:  # a constant quota (``5`` per town) needs no population
        source, columns, fact_period = _join_facts(source, ou, period)
        pairs = [(code, columns[code]) for code in formula.variables_used] + [("fact_period", fact_period)]
    staff = _staffed(tenant_ids, sorted({rule.position_code for rule in rules}), judged)
    source = source.outerjoin(staff, sa.and_(staff.c.org_unit_id == ou.c.id, staff.c.position_code == pos.c.code))
    base = (select(ou.c.tenant_id, ou.c.id.label("org_unit_id"), pos.c.id.label("position_id"),
                   formula.to_sql(columns).label("quota"), func.coalesce(staff.c.n, 0).label("staffed"),
                   r.c.id.label("rule_id"), _json_object(conn, pairs).label("inputs"))
            .select_from(source)
            .where(r.c.id.in_([rule.rule_id for rule in rules]), _tenant_filter(ou, tenant_ids))).subquery("base")
    vacant, over = _gaps(base.c.quota, base.c.staffed)
    rows = select(base.c.tenant_id, base.c.org_unit_id, base.c.position_id, sa.literal(period, sa.String()),
                  base.c.quota, base.c.staffed, vacant, over, base.c.rule_id, base.c.inputs,
                  sa.literal(now, sa.DateTime()))
    result = conn.execute(stage.insert().from_select(_COLUMNS, rows), execution_options=_COUNT_ROWS)
    return max(result.rowcount or 0, 0)


def _insert_rollup(conn: sa.Connection, stage: sa.Table, level: str, lower: list[str], period: str,
                   now: dt.datetime) -> int:
    """Sum the staged rows of the children of every unit at ``level`` (children already have their rows)."""
    q = stage.alias("q")
    child, parent = OrgUnit.__table__.alias("child"), OrgUnit.__table__.alias("parent")
    pos = Position.__table__.alias("pos")
    complete = func.count(q.c.quota) == func.count()
    rows = (select(parent.c.tenant_id, parent.c.id, q.c.position_id, sa.literal(period, sa.String()),
                   case((complete, func.sum(q.c.quota))), func.sum(q.c.staffed),
                   case((complete, func.sum(q.c.vacant))), case((complete, func.sum(q.c.over))), q.c.rule_id,
                   _json_object(conn, [("children", func.count())]), sa.literal(now, sa.DateTime()))
            .select_from(q.join(child, child.c.id == q.c.org_unit_id).join(parent, parent.c.id == child.c.parent_id)
                         .join(pos, pos.c.id == q.c.position_id))
            .where(parent.c.level == level, pos.c.org_level.in_(lower))
            .group_by(parent.c.tenant_id, parent.c.id, q.c.position_id, q.c.rule_id))
    result = conn.execute(stage.insert().from_select(_COLUMNS, rows), execution_options=_COUNT_ROWS)
    return max(result.rowcount or 0, 0)


_VALUE_COLUMNS = ("quota", "staffed", "vacant", "over", "rule_id")
_KEY_COLUMNS = ("tenant_id", "position_id", "org_unit_id")


def _stage_table(conn: sa.Connection) -> sa.Table:
    """A temporary table for this recompute's rows (dropped at commit on PostgreSQL, replaced here on SQLite).

    Computing into it first lets the merge leave unchanged rows alone: no write, no index update,
    and the row keeps its id (links to it stay valid).
    """
    columns = [sa.Column(c.name, c.type, nullable=c.nullable) for c in StaffingQuota.__table__.columns
               if c.name in _COLUMNS]
    stage = sa.Table("staffing_quota_stage", sa.MetaData(), *columns, prefixes=["TEMPORARY"],
                     postgresql_on_commit="DROP")
    conn.execute(sa.text("DROP TABLE IF EXISTS staffing_quota_stage"))
    stage.create(conn)
    return stage


def _merge(conn: sa.Connection, stage: sa.Table, period: str, tenant_ids: Sequence[int] | None) -> None:
    """Make the period's stored rows equal the staged ones, writing only what differs.

    ``DELETE`` the rows no longer computed, ``UPDATE`` only the rows whose figures differ
    (``computed_at`` is then the time the figures last changed), ``INSERT … ON CONFLICT DO NOTHING``
    the new ones. Why not one upsert: ``ON CONFLICT DO UPDATE`` locks (writes) every conflicting row
    even when its ``WHERE`` skips the update; and why not ``INSERT … WHERE NOT EXISTS``: on
    PostgreSQL that anti-join can re-read the rows it has just inserted for every row. The unique
    key answers "is it there?" instead. ``inputs`` are compared as text: PostgreSQL's ``json`` has
    no equality, and both sides come from the same JSON builder. A period with no stored rows yet (a
    first computation) is a plain insert.
    """
    from sqlalchemy.dialects import postgresql, sqlite

    q, s = StaffingQuota.__table__, stage
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        conn.execute(sa.text("ANALYZE staffing_quota_stage"))  # temporary tables are never auto-analyzed
    staged = select(*[s.c[c] for c in _COLUMNS])
    mine = sa.and_(_tenant_filter(q, tenant_ids), q.c.period == period)
    if conn.execute(select(q.c.id).where(mine).limit(1)).first() is None:
        conn.execute(q.insert().from_select(_COLUMNS, staged))
    else:
        same_key = sa.and_(*[s.c[k] == q.c[k] for k in _KEY_COLUMNS])
        conn.execute(q.delete().where(mine, ~sa.exists().where(same_key)))
        differs = sa.or_(sa.cast(q.c.inputs, sa.Text).is_distinct_from(sa.cast(s.c.inputs, sa.Text)),
                         *[q.c[c].is_distinct_from(s.c[c]) for c in _VALUE_COLUMNS])
        conn.execute(q.update().where(mine, same_key, differs)
                     .values({c: s.c[c] for c in (*_VALUE_COLUMNS, "inputs", "computed_at")}))
        insert = (postgresql.insert(q) if postgres else sqlite.insert(q)).from_select(
            _COLUMNS, staged.where(sa.true()))  # the WHERE lets SQLite parse the ON CONFLICT clause
        conn.execute(insert.on_conflict_do_nothing(index_elements=["tenant_id", "period", "position_id",
                                                                   "org_unit_id"]))
    if not postgres:
        conn.execute(sa.text("DROP TABLE staffing_quota_stage"))


def _collect_nulls(conn: sa.Connection, report: RecomputeReport, period: str,
                   tenant_ids: Sequence[int] | None) -> None:
    """Rows whose formula gave no quota, with the reason (missing data, or a fault such as ÷0)."""
    q, ou, pos, r = (StaffingQuota.__table__, OrgUnit.__table__, Position.__table__, PositionRule.__table__)
    where = [_tenant_filter(q, tenant_ids), q.c.period == period, q.c.quota.is_(None), ou.c.level == pos.c.org_level]
    source = q.join(ou, ou.c.id == q.c.org_unit_id).join(pos, pos.c.id == q.c.position_id)
    report.null_count = conn.execute(select(func.count()).select_from(source).where(*where)).scalar_one()
    if not report.null_count:
        return
    stmt = (select(ou.c.code, ou.c.name, pos.c.code.label("position_code"), q.c.inputs, r.c.formula)
            .select_from(source.join(r, r.c.id == q.c.rule_id)).where(*where)
            .order_by(ou.c.tenant_id, ou.c.path, pos.c.code).limit(NULL_SAMPLE))
    compiled: dict[str, Formula] = {}
    for row in conn.execute(stmt):
        formula = compiled.get(row.formula) or compiled.setdefault(row.formula, compile_rule("quota", row.formula))
        report.null_quotas.append(NullQuota(row.code, row.name, row.position_code, null_reason(formula, row.inputs)))


"""Staffing quotas recomputed set-based in the database: quota, staffed, vacant and over per unit.

Why set-based: one county is a few hundred villages, the country 600,000; a Python loop over
rows would be seconds per county and minutes nationally. The units of every position in force are
joined once to their population fact and to an aggregate of appointments; each row takes its
quota from its position's formula (``Formula.to_sql``; positions sharing a formula share one
expression, chosen by group number). The rollups sum those rows by parent, level by level, before
joining the few parents. On PostgreSQL the same statement then full-joins the computed rows with
the period's stored rows and deletes, updates and inserts only what differs (data-modifying
``WITH``), so a recompute after a small change writes little, unchanged rows keep their ids, and
no temporary table is written; SQLite goes through a temporary table. All of it runs in one
transaction: a failure leaves the previous figures untouched.

Definitions (docs/admin/staffing.md):
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
from typing import Any

import sqlalchemy as sa
from sqlalchemy import case, func, select

from app.core import clock
from app.core.errors import ScopeDenied
from app.core.tenancy import current_scope
from app.extensions import db
from app.orgs.models import ORG_LEVELS, OrgUnit, PopulationFact
from app.orgs.variables import ORG_UNIT_VARIABLES
from app.staffing.models import Appointment, Position
from app.staffing.quota_models import StaffingQuota
from app.staffing.quota_report import QuotaIncomplete, RecomputeReport, collect_nulls
from app.staffing.rules import (
    RuleInForce,
    compile_rule,
    ensure_rules,
    period_end,
    rules_in_force,
    usable_rules,
)

audit_log = logging.getLogger("countydesk.audit")
Progress = Callable[[int, int, str], None]
WORK_MEM = "256MB"
JIT = "off"
LOCK_KEY = 0x5171_0003  # PostgreSQL advisory lock held by a recompute for its transaction
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
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            # One recompute at a time (two would collide on the unique key); the batch hashes in memory;
            # JIT compilation of the one big statement bought nothing back (docs/dev/staffing-recompute.md).
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
            conn.execute(sa.text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
            conn.execute(sa.text(f"SET LOCAL jit = {JIT}"))
        if tenant_ids is None:
            _across_tenants(conn, period)
        ensure_rules(conn, tenant_ids)
        report.rules, report.bad_rules = usable_rules(rules_in_force(conn, tenant_ids, "quota", judged))
        _step(progress, 1, 3, "准备计算")
        plan = _Plan(conn, _group(report.rules), period, judged, tenant_ids, clock.server_now().replace(microsecond=0))
        _step(progress, 2, 3, "计算定额并保存有变化的行")
        counts = _merge_pg(conn, plan) if postgres else _merge_staged(conn, plan)
        report.rows, report.rollup_rows, report.null_count, report.changed = counts
        report.statements = 1 if postgres else 2
        collect_nulls(conn, report, period, _tenant_filter(StaffingQuota.__table__, tenant_ids))
        if strict and (report.null_count or report.bad_rules):
            raise QuotaIncomplete(f"{report.null_count}行无法计算定额、{len(report.bad_rules)}条规则有误，"
                                  "本次计算未保存", report)
        session.commit()
    except Exception:
        session.rollback()
        raise
    report.seconds = time.perf_counter() - started
    _step(progress, 3, 3, report.summary())
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


def _by_group(group: Any, expressions: list[Any]) -> Any:
    """One expression per formula group, chosen by the row's group number."""
    if len(expressions) == 1:
        return expressions[0]
    return case({n: expression for n, expression in enumerate(expressions)}, value=group)


_COLUMNS = ["tenant_id", "org_unit_id", "position_id", "period", "quota", "staffed", "vacant", "over", "rule_id",
            "inputs", "computed_at"]
_ROW = ("tenant_id", "org_unit_id", "parent_id", "level", "position_id", "rule_id", "quota", "staffed", "vacant",
        "over", "inputs")
"""Columns of a computed row: the stored ones, plus the unit's parent and level for the next rollup."""
_VALUE_COLUMNS = ("quota", "staffed", "vacant", "over", "rule_id")
_KEY_COLUMNS = ("tenant_id", "position_id", "org_unit_id")


class _Plan:
    """This recompute's rows as one ``SELECT``: base rows of every formula, then the rollups, level by level.

    Why one select: the units, their facts and the staff count are joined once for every position
    (each row picks its formula by group number) instead of once per formula, and the rollups sum
    the base rows where they are computed (grouped by parent first, then joined to the few
    parents) instead of re-reading stored rows. PostgreSQL merges the select into the table in the
    same statement (``_merge_pg``); SQLite, which has no data-modifying ``WITH``, goes through a
    temporary table (``_merge_staged``).
    """

    def __init__(self, conn: sa.Connection, groups: dict[tuple[str, str], list[RuleInForce]], period: str,
                 judged: dt.date, tenant_ids: Sequence[int] | None, now: dt.datetime):
        self.period, self.tenant_ids, self.now = period, tenant_ids, now
        self.base = self._base(conn, groups, period, judged, tenant_ids).cte("base")
        self.rollups: list[Any] = []
        rules = [rule for rules in groups.values() for rule in rules]
        position_levels = {rule.org_level for rule in rules}
        for level in _rollup_levels(rules):
            # the rows one level down: base rows of positions there, and the previous level's sums
            child_level = ORG_LEVELS[ORG_LEVELS.index(level) + 1]
            parts = ([self.base] if child_level in position_levels else []) + self.rollups[-1:]
            below: Any = parts[0]
            if len(parts) > 1:
                below = sa.union_all(*[select(*[t.c[c] for c in _ROW]) for t in parts]).subquery("below")
            self.rollups.append(self._rollup(conn, below, level, child_level).cte(f"rollup_{level}"))

    def rows(self) -> Any:
        """Every computed row with the stored table's columns (``_COLUMNS``)."""
        parts = [select(*[t.c[c] for c in _ROW if c not in ("parent_id", "level")]) for t in [self.base, *self.rollups]]
        return sa.union_all(*parts) if len(parts) > 1 else parts[0]

    def counts(self) -> list[Any]:
        """Base rows, rollup rows, base rows without a quota — as scalar subqueries."""
        count = func.count()
        rollups: Any = sa.literal(0)
        for rollup in self.rollups:
            rollups = rollups + select(count).select_from(rollup).scalar_subquery()
        base = select(count.label("n"), func.count(self.base.c.org_unit_id).filter(self.base.c.quota.is_(None))
                      .label("nulls")).cte("base_counts")  # one pass over the base rows
        return [select(base.c.n).scalar_subquery(), rollups, select(base.c.nulls).scalar_subquery()]

    def _rules(self, conn: sa.Connection, groups: dict[tuple[str, str], list[RuleInForce]]) -> Any:
        """(rule, position, formula group) of every rule in force."""
        triples = [(rule.rule_id, rule.position_id, n) for n, rules in enumerate(groups.values()) for rule in rules]
        if conn.dialect.name == "postgresql":  # three array parameters, however many positions
            from sqlalchemy.dialects.postgresql import ARRAY

            arrays = [sa.literal([t[i] for t in triples], ARRAY(sa.Integer)) for i in range(3)]
            table = func.unnest(*arrays).table_valued("rule_id", "position_id", "grp").render_derived(name="rif")
            return select(table.c.rule_id, table.c.position_id, table.c.grp).subquery("rif")
        pos = Position.__table__  # SQLite: a few tenants' positions, so one CASE branch per position is fine
        if not triples:
            return select(pos.c.id.label("rule_id"), pos.c.id.label("position_id"),
                          pos.c.id.label("grp")).where(sa.false()).subquery("rif")
        return (select(case({p: r for r, p, _ in triples}, value=pos.c.id).label("rule_id"),
                       pos.c.id.label("position_id"), case({p: n for _, p, n in triples}, value=pos.c.id).label("grp"))
                .where(pos.c.id.in_([p for _, p, _ in triples])).subquery("rif"))

    def _base(self, conn: sa.Connection, groups: dict[tuple[str, str], list[RuleInForce]], period: str,
              judged: dt.date, tenant_ids: Sequence[int] | None) -> Any:
        """Every unit at the level of a position in force, with the quota of the position's formula."""
        rif = self._rules(conn, groups)
        ou, pos = OrgUnit.__table__.alias("ou"), Position.__table__.alias("pos")
        source: Any = (rif.join(pos, pos.c.id == rif.c.position_id)
                       .join(ou, sa.and_(ou.c.tenant_id == pos.c.tenant_id, ou.c.level == pos.c.org_level)))
        formulas = [compile_rule("quota", text) for text, _level in groups] or [compile_rule("quota", "0")]
        columns: dict[str, Any] = {}
        inputs = [_json_object(conn, []) for _ in formulas]
        if any(f.variables_used for f in formulas):  # constant quotas (``5`` per town) need no population
            source, columns, fact_period = _join_facts(source, ou, period)
            inputs = [_json_object(conn, [(code, columns[code]) for code in f.variables_used]
                                   + ([("fact_period", fact_period)] if f.variables_used else []))
                      for f in formulas]
        codes = sorted({rule.position_code for rules in groups.values() for rule in rules})
        staff = _staffed(tenant_ids, codes, judged)
        source = source.outerjoin(staff, sa.and_(staff.c.org_unit_id == ou.c.id, staff.c.position_code == pos.c.code))
        quota = sa.cast(_by_group(rif.c.grp, [f.to_sql(columns) for f in formulas]), sa.Double)
        # OFFSET 0 keeps the subquery whole: PostgreSQL would otherwise paste the formula into vacant and over.
        raw = (select(ou.c.tenant_id, ou.c.id.label("org_unit_id"), ou.c.parent_id, ou.c.level, rif.c.position_id,
                      rif.c.rule_id, quota.label("quota"), sa.cast(func.coalesce(staff.c.n, 0), sa.Integer).label(
                          "staffed"), _by_group(rif.c.grp, inputs).label("inputs"))
               .select_from(source).where(_tenant_filter(ou, tenant_ids)).offset(0).subquery("raw"))
        vacant, over = _gaps(raw.c.quota, raw.c.staffed)
        return select(*[raw.c[c] for c in _ROW[:8]], vacant.label("vacant"), over.label("over"), raw.c.inputs)

    @staticmethod
    def _rollup(conn: sa.Connection, below: Any, level: str, child_level: str) -> Any:
        """Sum the rows one level below by parent, then attach the parents (only the sums are joined)."""
        count = func.count()
        sums = (select(below.c.parent_id, below.c.position_id, below.c.rule_id, count.label("n"),
                       func.count(below.c.quota).label("known"), func.sum(below.c.quota).label("quota"),
                       func.sum(below.c.staffed).label("staffed"), func.sum(below.c.vacant).label("vacant"),
                       func.sum(below.c.over).label("over"))
                .where(below.c.level == child_level)
                .group_by(below.c.parent_id, below.c.position_id, below.c.rule_id)).subquery("sums")
        parent = OrgUnit.__table__.alias("parent")
        complete = sums.c.known == sums.c.n  # a total with an unknown child is unknown
        return (select(parent.c.tenant_id, parent.c.id.label("org_unit_id"), parent.c.parent_id, parent.c.level,
                       sums.c.position_id, sums.c.rule_id, case((complete, sums.c.quota)).label("quota"),
                       sa.cast(sums.c.staffed, sa.Integer).label("staffed"),
                       case((complete, sums.c.vacant)).label("vacant"), case((complete, sums.c.over)).label("over"),
                       _json_object(conn, [("children", sums.c.n)]).label("inputs"))
                .select_from(sums.join(parent, sa.and_(parent.c.id == sums.c.parent_id, parent.c.level == level))))


def _rollup_levels(rules: list[RuleInForce]) -> list[str]:
    """Levels to roll up to, bottom-up: every level above the lowest position level in force."""
    used = [ORG_LEVELS.index(r.org_level) for r in rules]
    return [ORG_LEVELS[i] for i in range(max(used, default=0) - 1, -1, -1)]


def _merge_pg(conn: sa.Connection, plan: _Plan) -> tuple[int, int, int, int]:
    """One statement: compute, compare with the stored rows, delete / update / insert only what differs.

    A full join of the computed rows with the period's stored rows (on the unique key) keeps just
    the differences: stored rows no longer computed are deleted, rows whose figures, rule or inputs
    changed are updated (their ``computed_at`` is then when the figures last changed), new rows are
    inserted; unchanged rows are not written at all and keep their id. The three data-modifying
    parts see the same snapshot and touch disjoint rows. ``inputs`` are compared as text: ``json``
    has no equality, and both sides come from the same builder.
    """
    q = StaffingQuota.__table__
    computed = plan.rows().cte("computed")
    c = computed.c
    now = sa.literal(plan.now, sa.DateTime())
    mine = sa.and_(_tenant_filter(q, plan.tenant_ids), q.c.period == plan.period)
    if conn.execute(select(q.c.id).where(mine).limit(1)).first() is None:  # a first computation: insert all
        rows = select(*[c[k] for k in _COLUMNS[:3]], sa.literal(plan.period, sa.String()),
                      *[c[k] for k in _COLUMNS[4:10]], now)
        counts = conn.execute(select(*plan.counts()).add_cte(
            q.insert().from_select(_COLUMNS, rows).cte("added"))).one()
        return int(counts[0]), int(counts[1]), int(counts[2]), int(counts[0]) + int(counts[1])
    stored = (select(*[q.c[c] for c in ("id", *_KEY_COLUMNS, *_VALUE_COLUMNS, "inputs")])
              .where(mine).cte("stored"))
    s = stored.c
    differs = sa.or_(sa.cast(s.inputs, sa.Text).is_distinct_from(sa.cast(c.inputs, sa.Text)),
                     *[s[k].is_distinct_from(c[k]) for k in _VALUE_COLUMNS])
    action = case((c.org_unit_id.is_(None), "d"), (s.id.is_(None), "i"), else_="u")
    diff = (select(*c, s.id.label("stored_id"), action.label("action"))
            .select_from(computed.join(stored, sa.and_(*[c[k] == s[k] for k in _KEY_COLUMNS]), full=True))
            .where(sa.or_(c.org_unit_id.is_(None), s.id.is_(None), differs)).cte("diff"))
    d = diff.c
    gone = q.delete().where(q.c.id == d.stored_id, d.action == "d").returning(q.c.id).cte("gone")
    changed = (q.update().where(q.c.id == d.stored_id, d.action == "u")
               .values({**{k: d[k] for k in (*_VALUE_COLUMNS, "inputs")}, "computed_at": now})
               .returning(q.c.id).cte("changed"))
    new_rows = select(*[d[k] for k in _COLUMNS[:3]], sa.literal(plan.period, sa.String()),
                      *[d[k] for k in _COLUMNS[4:10]], now).where(d.action == "i")
    added = q.insert().from_select(_COLUMNS, new_rows).returning(q.c.id).cte("added")
    written = sum((select(func.count()).select_from(t).scalar_subquery() for t in (gone, changed, added)),
                  sa.literal(0))
    row = conn.execute(select(*plan.counts(), written)).one()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


def _merge_staged(conn: sa.Connection, plan: _Plan) -> tuple[int, int, int, int]:
    """SQLite: the computed rows into a temporary table, then delete / update / insert what differs."""
    from sqlalchemy.dialects import sqlite

    q = StaffingQuota.__table__
    columns = [sa.Column(c.name, c.type, nullable=c.nullable) for c in q.columns if c.name in _COLUMNS]
    s = sa.Table("staffing_quota_stage", sa.MetaData(), *columns, prefixes=["TEMPORARY"])
    conn.execute(sa.text("DROP TABLE IF EXISTS staffing_quota_stage"))
    s.create(conn)
    rows = plan.rows().subquery("computed")
    conn.execute(s.insert().from_select(_COLUMNS, select(
        *[rows.c[k] for k in _COLUMNS[:3]], sa.literal(plan.period, sa.String()), *[rows.c[k] for k in _COLUMNS[4:10]],
        sa.literal(plan.now, sa.DateTime()))))
    counts = conn.execute(select(*plan.counts())).one()
    mine = sa.and_(_tenant_filter(q, plan.tenant_ids), q.c.period == plan.period)
    same_key = sa.and_(*[s.c[k] == q.c[k] for k in _KEY_COLUMNS])
    written = conn.execute(q.delete().where(mine, ~sa.exists().where(same_key)), execution_options=_COUNT_ROWS)
    differs = sa.or_(sa.cast(q.c.inputs, sa.Text).is_distinct_from(sa.cast(s.c.inputs, sa.Text)),
                     *[q.c[c].is_distinct_from(s.c[c]) for c in _VALUE_COLUMNS])
    updated = conn.execute(q.update().where(mine, same_key, differs)
                           .values({c: s.c[c] for c in (*_VALUE_COLUMNS, "inputs", "computed_at")}),
                           execution_options=_COUNT_ROWS)
    insert = sqlite.insert(q).from_select(_COLUMNS, select(*[s.c[c] for c in _COLUMNS]).where(sa.true()))
    inserted = conn.execute(insert.on_conflict_do_nothing(
        index_elements=["tenant_id", "period", "position_id", "org_unit_id"]), execution_options=_COUNT_ROWS)
    conn.execute(sa.text("DROP TABLE staffing_quota_stage"))
    return (int(counts[0]), int(counts[1]), int(counts[2]),
            sum(max(r.rowcount or 0, 0) for r in (written, updated, inserted)))


_COUNT_ROWS = {"preserve_rowcount": True}  # SQLAlchemy keeps a DML statement's rowcount only when asked

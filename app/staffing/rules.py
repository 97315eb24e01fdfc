"""Versioned, effective-dated staffing rules: which formula applies to a position on a date.

Why versions instead of editing ``Position.quota_formula``: a county that changes its rule from
2026 must still be able to recompute (and explain) 2025 with the rule of 2025. A new rule is a
new row; nothing is rewritten.

Which version is in force on a date: among the versions with ``effective_from`` on or before the
date, the one with the latest ``effective_from``; two versions from the same date → the higher
version number (a correction) wins.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, select

from app.core import clock
from app.core.errors import CountyDeskError
from app.extensions import db
from app.formulas import Formula, FormulaError, FormulaRuntimeError, FType, compile_formula
from app.hooks.formulas import formula_registry
from app.orgs.variables import ORG_UNIT_VARIABLES
from app.staffing.models import Position
from app.staffing.quota_models import RULE_KINDS, PositionRule
from app.staffing.variables import PERSON_VARIABLES

BEGINNING = dt.date(1900, 1, 1)
"""``effective_from`` of the version made from the tenant folder's formula: in force for all history."""

_PERIOD = re.compile(r"^((?:19|2[01])[0-9]{2})(?:-(0[1-9]|1[0-2]))?\Z")  # ASCII digits: not ２０２５
_KIND_SPEC = {
    "quota": (ORG_UNIT_VARIABLES, FType.NUMBER, "定额公式"),
    "eligibility": (PERSON_VARIABLES, FType.BOOL, "资格条件公式"),
}
_WANTED = {FType.NUMBER: "数字", FType.BOOL: "是/否"}
"""The result a rule must give, in the words of the tenant folder's documentation."""
_QUOTA_LABELS = {v.code: v.label for v in ORG_UNIT_VARIABLES}
_POSITION_COLUMN = {"quota": "quota_formula", "eligibility": "eligibility_formula"}


class RuleError(CountyDeskError):
    status = 422


def period_end(period: str) -> dt.date:
    """The date a period is judged on: 31 December for ``2025``, the month's last day for ``2025-03``."""
    match = _PERIOD.match(period or "")
    if not match:
        raise RuleError(f"期间「{period}」格式不对，应为年份（2025）或年月（2025-03）")
    year = int(match.group(1))
    if match.group(2) is None:
        return dt.date(year, 12, 31)
    month = int(match.group(2))
    first_of_next = dt.date(year + month // 12, month % 12 + 1, 1)
    return first_of_next - dt.timedelta(days=1)


def compile_rule(kind: str, text: str) -> Formula:
    """Parse and type-check a rule's formula; raises ``FormulaError`` with a Chinese message."""
    if kind not in _KIND_SPEC:
        raise RuleError(f"未知的规则类型「{kind}」，应为 {' / '.join(RULE_KINDS)}")
    variables, result_type, name = _KIND_SPEC[kind]
    formula = compile_formula((text or "").strip(), variables, formula_registry())
    if formula.result_type is not result_type:
        raise FormulaError(f"{name}的结果应为{_WANTED[result_type]}，而不是{formula.result_type.zh}",
                           text=formula.text, kind="type")
    return formula


TERM_YEARS = (1, 20)
REHIRE_BAN_YEARS = (0, 20)
CODE_RE = re.compile(r"^[A-Za-z0-9_]{1,32}$")


def formula_problem(kind: str, text: Any) -> str | None:
    """Why ``text`` cannot be stored as a ``kind`` rule (None: it can, or it is empty).

    Why one check for every door (tenant folder, position screen and API, formula editor): a rule
    stored without it would break the county's next recompute, long after whoever typed it left.
    """
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    if not isinstance(text, str):
        return "应为公式文字"
    try:
        compile_rule(kind, text)
    except FormulaError as exc:
        return f"公式「{_clip(text)}」有误：{exc}"
    return None


def _clip(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def _years(low: int, high: int) -> Any:
    def check(value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            return "应为整数"
        return None if low <= value <= high else f"应在 {low}–{high} 之间（现为 {value}）"
    return check


def _code(value: Any) -> str | None:
    return None if isinstance(value, str) and CODE_RE.match(value) else "只能是字母、数字、下划线（最多 32 个）"


def _level(value: Any) -> str | None:
    from app.orgs.models import ORG_LEVEL_LABELS, ORG_LEVELS

    if value in ORG_LEVELS:
        return None
    return "应为 " + " / ".join(f"{level}（{ORG_LEVEL_LABELS[level]}）" for level in ORG_LEVELS)


POSITION_CHECKS: dict[str, Any] = {
    "code": _code, "org_level": _level,
    "quota_formula": lambda text: formula_problem("quota", text),
    "eligibility_formula": lambda text: formula_problem("eligibility", text),
    "term_years": _years(*TERM_YEARS), "rehire_ban_years": _years(*REHIRE_BAN_YEARS),
}
"""What a position's columns must satisfy, by column: each check gives a Chinese message or None."""


def current_rule(position: Position, kind: str, on_date: dt.date) -> PositionRule | None:
    """The version of ``position``'s ``kind`` rule in force on ``on_date`` (None before the first)."""
    stmt = (select(PositionRule)
            .where(PositionRule.position_id == position.id, PositionRule.kind == kind,
                   PositionRule.effective_from <= on_date)
            .order_by(PositionRule.effective_from.desc(), PositionRule.version.desc())
            .limit(1))
    return db.session.scalars(stmt).first()


def rule_history(position: Position, kind: str) -> list[PositionRule]:
    stmt = (select(PositionRule).where(PositionRule.position_id == position.id, PositionRule.kind == kind)
            .order_by(PositionRule.version))
    return list(db.session.scalars(stmt))


def set_rule(position: Position, kind: str, text: str, effective_from: dt.date, user_id: int | None = None,
             *, commit: bool = True) -> PositionRule:
    """Add a new version of a rule, in force from ``effective_from``; earlier periods keep theirs.

    The formula is type-checked first: a ``FormulaError`` leaves the database untouched. The
    tenant folder's formula becomes version 1 beforehand if the position had no version yet, so
    a rule set "from 2026" never leaves 2025 without a rule.
    """
    compile_rule(kind, text)
    session = db.session
    try:
        ensure_rules_from_positions(position.tenant_id)
        latest = session.scalar(select(func.max(PositionRule.version))
                                .where(PositionRule.position_id == position.id, PositionRule.kind == kind))
        rule = PositionRule(position=position, kind=kind, formula=text.strip(), effective_from=effective_from,
                            version=(latest or 0) + 1, created_by=user_id)
        session.add(rule)
        session.flush()
        if commit:
            session.commit()
    except Exception:
        session.rollback()
        raise
    return rule


def ensure_rules_from_positions(tenant_id: int) -> int:
    """Version 1 (from 1900-01-01) of every rule a position carries in its tenant folder but not yet here.

    Idempotent; returns the number of versions created. One ``INSERT … SELECT`` per kind.
    """
    return ensure_rules(db.session.connection(), [tenant_id])


def ensure_rules(conn: sa.Connection, tenant_ids: Sequence[int] | None) -> int:
    """``ensure_rules_from_positions`` for several tenants (``None``: every tenant — callers own that choice)."""
    p, r = Position.__table__, PositionRule.__table__
    created = 0
    for kind, column in _POSITION_COLUMN.items():
        text = p.c[column]
        missing = ~sa.exists().where(r.c.position_id == p.c.id, r.c.kind == kind)
        query = select(p.c.tenant_id, p.c.id, sa.literal(kind), sa.func.trim(text), sa.literal(BEGINNING),
                       sa.literal(1)).where(text.is_not(None), sa.func.trim(text) != "", missing)
        if tenant_ids is not None:
            query = query.where(p.c.tenant_id.in_(list(tenant_ids)))
        result = conn.execute(r.insert().from_select(
            ["tenant_id", "position_id", "kind", "formula", "effective_from", "version"], query),
            execution_options={"preserve_rowcount": True})
        created += max(result.rowcount or 0, 0)
    return created


def sync_rule_versions(conn: sa.Connection, tenant_id: int, positions: Sequence[Mapping[str, Any]],
                       today: dt.date | None = None) -> int:
    """The tenant loader's side of versioning: a formula changed in tenant.yaml becomes a new version.

    It takes effect from the position's ``quota_from`` / ``eligibility_from`` (default: the day of
    the load), so earlier periods keep the version they were computed with. New positions get
    version 1 from the beginning of time. Returns the number of versions added.
    """
    created = ensure_rules(conn, [tenant_id])
    r, p = PositionRule.__table__, Position.__table__
    latest = {
        (row.code, row.kind): row
        for row in conn.execute(
            select(p.c.code, r.c.position_id, r.c.kind, r.c.formula, r.c.version)
            .join(p, p.c.id == r.c.position_id)
            .where(r.c.tenant_id == tenant_id)
            .order_by(r.c.version))
    }
    for pos in positions:
        for kind in _POSITION_COLUMN:
            text = (pos.get(kind) or "").strip()
            current = latest.get((pos["code"], kind))
            if not text or current is None or current.formula == text:
                continue
            conn.execute(r.insert().values(
                tenant_id=tenant_id, position_id=current.position_id, kind=kind, formula=text,
                effective_from=pos.get(f"{kind}_from") or today or clock.server_today(), version=current.version + 1))
            created += 1
    return created


@dataclass(frozen=True)
class RuleInForce:
    """A position and the version of its rule that applies on the judged date (read with Core)."""

    rule_id: int
    version: int
    formula: str
    position_id: int
    position_code: str
    tenant_id: int
    org_level: str


def rules_in_force(conn: sa.Connection, tenant_ids: Sequence[int] | None, kind: str,
                   on_date: dt.date) -> list[RuleInForce]:
    """Every position's rule version in force on ``on_date``, for the tenants given, in one query.

    Core is not tenant-filtered, so the tenant condition is explicit (``None`` = every tenant).
    """
    r, p = PositionRule.__table__, Position.__table__
    rank = func.row_number().over(partition_by=r.c.position_id,
                                  order_by=(r.c.effective_from.desc(), r.c.version.desc()))
    ranked = select(r.c.id, r.c.version, r.c.formula, r.c.position_id, rank.label("rank")).where(
        r.c.kind == kind, r.c.effective_from <= on_date)
    if tenant_ids is not None:
        ranked = ranked.where(r.c.tenant_id.in_(list(tenant_ids)))
    sub = ranked.subquery("ranked")
    stmt = (select(sub.c.id, sub.c.version, sub.c.formula, sub.c.position_id, p.c.code, p.c.tenant_id,
                   p.c.org_level)
            .join(p, p.c.id == sub.c.position_id).where(sub.c.rank == 1)
            .order_by(p.c.tenant_id, p.c.code))
    return [RuleInForce(row.id, row.version, row.formula, row.position_id, row.code, row.tenant_id, row.org_level)
            for row in conn.execute(stmt)]


@dataclass
class BadRule:
    """A rule in force that cannot be computed (stored before every door checked it): reported, skipped."""

    position_code: str
    version: int
    formula: str
    error: str


def usable_rules(rules: list[RuleInForce]) -> tuple[list[RuleInForce], list[BadRule]]:
    """The rules that compile, and the others as reported faults: one bad rule never stops the rest."""
    from app.orgs.models import ORG_LEVELS

    good: list[RuleInForce] = []
    bad: list[BadRule] = []
    for rule in rules:
        problem = formula_problem("quota", rule.formula) if rule.formula.strip() else "公式为空"
        if rule.org_level not in ORG_LEVELS:
            problem = f"岗位层级「{rule.org_level}」无效"
        if problem:
            bad.append(BadRule(rule.position_code, rule.version, rule.formula, problem))
        else:
            good.append(rule)
    return good, bad


def null_reason(formula: Formula, inputs: dict[str, Any] | None) -> str:
    """Why a formula gave no value for these inputs, in the words a county admin uses."""
    inputs = inputs or {}
    if formula.variables_used and inputs.get("fact_period") is None:
        return "缺少本期人口数据"
    values = {code: inputs.get(code) for code in formula.variables_used}
    missing = [_QUOTA_LABELS.get(code, code) for code, value in values.items() if value is None]
    if missing:
        return f"缺少数据：{'、'.join(missing)}"
    try:
        value = formula.compute(values)
    except FormulaRuntimeError as err:
        return f"无法计算：{err}"
    return "公式结果为空" if value is None else "数据库计算结果为空"

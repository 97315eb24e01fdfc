"""The formula editor's services: check a quota formula, preview it on real org units, save a version.

The editor must say exactly what the recompute and ``set_rule`` will say and compute: the check
is ``compile_rule("quota", …)`` (the same type check as saving), the preview evaluates the same
compiled formula with the Python back end on the unit's population fact of the period (the
values the recompute's SQL gives, held equal by the property tests), and saving is ``set_rule``.
Org units are read through the ORM, so only the current county's units can appear.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from app.core.errors import CountyDeskError
from app.extensions import db
from app.formulas import FormulaError
from app.orgs.models import ORG_LEVELS, POPULATION_FIELDS, OrgUnit, PopulationFact
from app.staffing.models import Position
from app.staffing.quota_models import PositionRule
from app.staffing.rules import compile_rule, set_rule

PREVIEW_LEVELS = ("village", "town", "county")
PREVIEW_MAX = 50


class EditorError(CountyDeskError):
    status = 400


@dataclass
class CheckResult:
    ok: bool
    message: str = ""
    line: int | None = None
    column: int | None = None
    caret: str = ""
    result_type: str = ""
    variables: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class PreviewRow:
    code: str
    name: str
    inputs: list[tuple[str, Any]]
    """``[(label, value), …]``: the trace of the inputs the formula read."""
    value: Any
    error: str = ""


@dataclass
class Preview:
    period: str | None
    level: str
    rows: list[PreviewRow]


def check_formula(text: str) -> CheckResult:
    """Syntax, variables and result type of a quota formula, with the error's position and caret."""
    try:
        formula = compile_rule("quota", text)
    except FormulaError as err:
        return CheckResult(False, str(err), err.line, err.column, err.caret)
    return CheckResult(True, "公式正确", result_type=formula.result_type.zh, variables=list(formula.variables_used))


def latest_period() -> str | None:
    """The current county's latest period with population facts."""
    return db.session.scalar(select(PopulationFact.period).order_by(PopulationFact.period.desc()).limit(1))


def preview_formula(text: str, level: str, *, limit: int = 10, period: str | None = None) -> Preview:
    """The formula on the first ``limit`` org units of ``level`` (by org path) of the current county."""
    if level not in PREVIEW_LEVELS:
        raise EditorError(f"层级「{level}」不对，应为 {' / '.join(PREVIEW_LEVELS)}")
    formula = compile_rule("quota", text)  # FormulaError: the caller shows it like the check does
    limit = max(1, min(int(limit), PREVIEW_MAX))
    period = period or latest_period()
    fact_columns = [getattr(PopulationFact, f) for f in POPULATION_FIELDS]
    stmt = (select(OrgUnit.code, OrgUnit.name, PopulationFact.id, *fact_columns)
            .outerjoin(PopulationFact, (PopulationFact.org_unit_id == OrgUnit.id) & (PopulationFact.period == period))
            .where(OrgUnit.level == level).order_by(OrgUnit.path).limit(limit))
    rows = []
    for code, name, fact_id, *values in db.session.execute(stmt):
        if formula.variables_used and fact_id is None:
            rows.append(PreviewRow(code, name, [], None, "缺少本期人口数据"))
            continue
        try:
            result = formula.evaluate(dict(zip(POPULATION_FIELDS, values, strict=True)))
        except FormulaError as err:
            rows.append(PreviewRow(code, name, [], None, f"无法计算：{err}"))
            continue
        value = result.value
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        rows.append(PreviewRow(code, name, [(label, used) for _code, label, used in result.trace], value))
    return Preview(period, level, rows)


def save_version(position_id: int, text: str, effective_from: dt.date, user_id: int | None) -> PositionRule:
    """A new version of a position's quota rule (``set_rule``: refuses an invalid formula, saves nothing)."""
    position = db.session.get(Position, position_id)
    if position is None:
        raise EditorError("岗位不存在")
    return set_rule(position, "quota", text, effective_from, user_id)


def positions() -> list[Position]:
    return list(db.session.scalars(select(Position).order_by(Position.code)))


def level_choices() -> list[str]:
    return [lvl for lvl in ORG_LEVELS if lvl in PREVIEW_LEVELS]


def latest_formulas() -> dict[int, str]:
    """Each position's latest quota version (or its tenant-folder formula when it has none yet)."""
    out = {p.id: p.quota_formula or "" for p in positions()}
    for rule in db.session.scalars(select(PositionRule).where(PositionRule.kind == "quota")
                                   .order_by(PositionRule.version)):
        out[rule.position_id] = rule.formula
    return out

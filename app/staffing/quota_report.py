"""What a quota recompute reports: counts, the rows left without a quota and why, the rules it skipped.

Kept beside ``quotas`` (the statements) so that module holds only the set-based computation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import select

from app.core.errors import CountyDeskError
from app.formulas import Formula
from app.orgs.models import OrgUnit
from app.staffing.models import Position
from app.staffing.quota_models import PositionRule, StaffingQuota
from app.staffing.rules import BadRule, RuleInForce, compile_rule, formula_problem, null_reason

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
    changed: int = 0
    """Stored rows deleted, updated or inserted (unchanged rows are not written)."""
    rules: list[RuleInForce] = field(default_factory=list)
    null_count: int = 0
    null_quotas: list[NullQuota] = field(default_factory=list)
    bad_rules: list[BadRule] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        text = (f"{self.period}：按{len(self.rules)}条规则计算了{self.rows}个单位的定额，"
                f"汇总{self.rollup_rows}行，用时{self.seconds:.2f}秒")
        if self.null_count:
            text += f"；{self.null_count}行无法计算定额（见下）"
        for bad in self.bad_rules:
            text += f"；岗位「{bad.position_code}」第{bad.version}版规则未计算：{bad.error}，请在定额公式编辑中改正"
        return text


def collect_nulls(conn: sa.Connection, report: RecomputeReport, period: str, tenants: Any) -> None:
    """Rows whose formula gave no quota, with the reason (missing data, or a fault such as ÷0).

    ``tenants`` is the recompute's tenant filter on the quota table (Core statements name their tenants).
    """
    q, ou, pos, r = (StaffingQuota.__table__, OrgUnit.__table__, Position.__table__, PositionRule.__table__)
    where = [tenants, q.c.period == period, q.c.quota.is_(None), ou.c.level == pos.c.org_level]
    if not report.null_count:  # counted by the recompute's own statement
        return
    source = q.join(ou, ou.c.id == q.c.org_unit_id).join(pos, pos.c.id == q.c.position_id)
    stmt = (select(ou.c.code, ou.c.name, pos.c.code.label("position_code"), q.c.inputs, r.c.formula)
            .select_from(source.join(r, r.c.id == q.c.rule_id)).where(*where)
            .order_by(ou.c.tenant_id, ou.c.path, pos.c.code).limit(NULL_SAMPLE))
    compiled: dict[str, Formula] = {}
    for row in conn.execute(stmt):
        if formula_problem("quota", row.formula):  # an old row of a rule that went bad: no reason to give
            continue
        formula = compiled.get(row.formula) or compiled.setdefault(row.formula, compile_rule("quota", row.formula))
        report.null_quotas.append(NullQuota(row.code, row.name, row.position_code, null_reason(formula, row.inputs)))


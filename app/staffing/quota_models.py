"""Versioned staffing rules and the computed quota of every org unit, position and period.

Rules are versioned and effective-dated (``position_rule``) so that changing a formula from a
date never rewrites what earlier periods were computed with; every ``staffing_quota`` row names
the rule version it used and keeps the population values it read, so a number on a screen can
always be explained ("show its inputs and rule version", DESIGN §5).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_babel import gettext
from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    func,
)
from sqlalchemy.orm import Mapped, foreign, mapped_column, relationship

from app.core.models import TenantScoped
from app.extensions import db
from app.orgs.models import POPULATION_LABELS, OrgUnit
from app.staffing.models import Position

RULE_KINDS = ("quota", "eligibility")


class PositionRule(TenantScoped, db.Model):  # type: ignore[name-defined]
    """One version of a position's quota or eligibility formula, in force from ``effective_from``.

    Rows are only ever added (``app.staffing.rules.set_rule``): history is what lets an old
    period be recomputed with the rule that applied then.
    """

    __tablename__ = "position_rule"
    __table_args__ = (
        UniqueConstraint("tenant_id", "position_id", "kind", "version", name="uq_position_rule_version"),
        Index("ix_position_rule_tenant_position", "tenant_id", "position_id", "kind", "effective_from"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    position_id: Mapped[int] = mapped_column(ForeignKey("position.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    formula: Mapped[str] = mapped_column(Text, nullable=False)
    effective_from: Mapped[dt.date] = mapped_column(Date, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[dt.datetime | None] = mapped_column(DateTime, server_default=func.current_timestamp())
    created_by: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))

    position: Mapped[Position] = relationship()

    def __repr__(self) -> str:
        return f"v{self.version} {self.formula}"


class StaffingQuota(TenantScoped, db.Model):  # type: ignore[name-defined]
    """Quota, staffed, vacant and over-staffed count of one position at one org unit in one period.

    Rows at the position's own level come from its formula; rows above it (town, county) are
    sums of their children (``inputs`` then holds ``{"children": n}``). Written only by the
    set-based recompute in ``app.staffing.quotas``; the screens and the API are read-only.
    """

    __tablename__ = "staffing_quota"
    __table_args__ = (
        UniqueConstraint("tenant_id", "period", "position_id", "org_unit_id", name="uq_staffing_quota_period_unit"),
    )
    __scope_org_attr__ = "org_unit_id"
    __audited__ = False  # derived by the recompute; its inputs are audited

    # Derived rows, rebuilt per (tenant, period) by the recompute: no foreign keys and no index beyond the
    # unique key (which leads with tenant_id and period). Per-row FK checks and extra indexes tripled the
    # national recompute (docs/dev/staffing-recompute.md); the recompute itself only writes ids it has just joined.
    tenant_id: Mapped[int] = mapped_column(Integer, nullable=False)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_unit_id: Mapped[int] = mapped_column(Integer, nullable=False)
    position_id: Mapped[int] = mapped_column(Integer, nullable=False)
    period: Mapped[str] = mapped_column(String(7), nullable=False)
    quota: Mapped[float | None] = mapped_column(Double)
    staffed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    vacant: Mapped[float | None] = mapped_column(Double)
    over: Mapped[float | None] = mapped_column(Double)
    rule_id: Mapped[int | None] = mapped_column(Integer)
    inputs: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    computed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    # Target column on the left: FAB's join for dotted columns (``org_unit.code``) takes the side of a
    # join condition that has no database foreign key as the one to replace by its alias.
    org_unit: Mapped[OrgUnit] = relationship(primaryjoin=lambda: OrgUnit.id == foreign(StaffingQuota.org_unit_id))
    position: Mapped[Position] = relationship(primaryjoin=lambda: Position.id == foreign(StaffingQuota.position_id))
    rule: Mapped[PositionRule | None] = relationship(
        primaryjoin=lambda: PositionRule.id == foreign(StaffingQuota.rule_id))

    @property
    def rule_version(self) -> int | None:
        return self.rule.version if self.rule is not None else None

    @property
    def rule_formula(self) -> str | None:
        return self.rule.formula if self.rule is not None else None

    @property
    def rule_effective_from(self) -> dt.date | None:
        return self.rule.effective_from if self.rule is not None else None

    @property
    def inputs_text(self) -> str:
        """The inputs as a reader sees them: ``计生常住人口 = 3200`` or the number of units summed."""
        inputs = dict(self.inputs or {})
        if "children" in inputs:
            return gettext("下级单位汇总：%(n)s个", n=inputs["children"])
        fact_period = inputs.pop("fact_period", None)
        parts = [f"{gettext(POPULATION_LABELS.get(k, k))} = {'—' if v is None else v}" for k, v in inputs.items()]
        if fact_period:
            parts.append(f"{gettext('期间')} = {fact_period}")
        return "；".join(parts)

    def __repr__(self) -> str:
        return f"{self.org_unit_id}/{self.position_id}@{self.period}"


def _drop_quotas(column: str) -> Any:
    """Without foreign keys, deleting an org unit or a position through the ORM drops its quota rows here."""

    def listener(mapper: Any, connection: Any, target: Any) -> None:
        table = StaffingQuota.__table__
        connection.execute(table.delete().where(table.c.tenant_id == target.tenant_id, table.c[column] == target.id))

    return listener


event.listen(OrgUnit, "after_delete", _drop_quotas("org_unit_id"))
event.listen(Position, "after_delete", _drop_quotas("position_id"))


def format_count(value: float | None) -> str:
    """Quotas are floats (a formula may give 2.5); show whole numbers without ``.0``, NULL as blank."""
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"

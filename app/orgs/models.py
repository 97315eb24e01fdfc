"""The org tree of a tenant and the population facts of its units, per period.

``path`` is the chain of codes from the county down (``/350581/350581001/``): subtree
checks and drill-downs become a prefix test instead of a recursive query.
"""

from __future__ import annotations

from flask_babel import gettext
from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from app.core.models import TenantScoped
from app.core.tenancy import reference_ids, register_org_path_resolver
from app.extensions import db

ORG_LEVELS = ("county", "town", "village", "group")
ORG_LEVEL_LABELS = {"county": "县（市、区）", "town": "镇（乡、街道）", "village": "村（社区）",
                    "group": "村（居）民小组"}
POPULATION_FIELDS = ("registered_pop", "resident_pop", "floating_pop", "married_women", "households", "groups")
POPULATION_LABELS = {
    "registered_pop": "户籍人口",
    "resident_pop": "计生常住人口",
    "floating_pop": "流动人口",
    "married_women": "已婚育龄妇女",
    "households": "户数",
    "groups": "村民小组数",
}


class OrgUnit(TenantScoped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "org_unit"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code", name="uq_org_unit_tenant_code"),
        Index("ix_org_unit_tenant_path", "tenant_id", "path"),
        Index("ix_org_unit_tenant_parent", "tenant_id", "parent_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), nullable=False)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    level: Mapped[str] = mapped_column(String(16), nullable=False)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id", ondelete="RESTRICT"))
    path: Mapped[str] = mapped_column(String(512), nullable=False, default="")
    row_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")
    extra: Mapped[dict[str, object] | None] = mapped_column(db.JSON)

    parent: Mapped[OrgUnit | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[OrgUnit]] = relationship(back_populates="parent")

    def scope_org_ids(self, is_new: bool) -> list[int | None]:
        """A new unit is captured under its parent; an existing one is itself in scope, and so are its
        old and new parent (moving a unit out of the user's area, or into it, is refused)."""
        parents = reference_ids(self, "parent_id")
        return parents if is_new else [self.id, *parents]

    @property
    def level_label(self) -> str:
        return gettext(ORG_LEVEL_LABELS.get(self.level, self.level))

    def __repr__(self) -> str:
        return f"{self.name}（{self.code}）"


class PopulationFact(TenantScoped, db.Model):  # type: ignore[name-defined]
    """Population of one org unit in one period (``2025`` or ``2025-03``); one row per period."""

    __tablename__ = "population_fact"
    __table_args__ = (
        UniqueConstraint("tenant_id", "org_unit_id", "period", name="uq_population_tenant_org_period"),
    )
    __scope_org_attr__ = "org_unit_id"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id", ondelete="CASCADE"), nullable=False)
    period: Mapped[str] = mapped_column(String(7), nullable=False)
    registered_pop: Mapped[int | None] = mapped_column(Integer)
    resident_pop: Mapped[int | None] = mapped_column(Integer)
    floating_pop: Mapped[int | None] = mapped_column(Integer)
    married_women: Mapped[int | None] = mapped_column(Integer)
    households: Mapped[int | None] = mapped_column(Integer)
    groups: Mapped[int | None] = mapped_column(Integer)

    org_unit: Mapped[OrgUnit] = relationship()

    def __repr__(self) -> str:
        return f"{self.org_unit_id}@{self.period}"


def org_path(session: Session, org_id: int) -> str | None:
    unit = session.get(OrgUnit, org_id)
    if unit is None:
        return None
    if not unit.path:
        unit.path = compute_path(unit)
    return unit.path


def compute_path(unit: OrgUnit) -> str:
    parent_path = unit.parent.path if unit.parent is not None else "/"
    return f"{parent_path}{unit.code}/"


def subtree_ids(session: Session, path: str) -> list[int]:
    return list(session.scalars(select(OrgUnit.id).where(OrgUnit.path.startswith(path))))


register_org_path_resolver(org_path)

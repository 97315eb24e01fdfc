"""Form definitions (versioned) and form records (JSON payload) per tenant.

A definition is never overwritten: every change is a new ``version`` row, and each record keeps
the ``form_version`` it was entered under, so old records stay readable after a form changes.
Records store the county's fields in one JSON ``data`` column; the columns beside it (org unit,
person, period, natural key) are what lists filter, sort and key on.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.models import TenantScoped
from app.extensions import db
from app.orgs.models import OrgUnit
from app.staffing.models import Person

DEFINITION_SOURCES = ("yaml", "designer")
RECORD_STATUSES = ("draft", "submitted")
RECORD_STATUS_LABELS = {"draft": "草稿", "submitted": "已提交"}
AUDIT_KEYS = ("data", "org_unit_id", "person_id", "period", "status", "form_version", "row_version")


class FormDefinition(TenantScoped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "form_definition"
    __table_args__ = (UniqueConstraint("tenant_id", "code", "version", name="uq_form_definition_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    target: Mapped[str] = mapped_column(String(16), nullable=False)
    periodicity: Mapped[str] = mapped_column(String(16), nullable=False)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    """``FormDef.to_dict()``: the whole definition."""
    source: Mapped[str] = mapped_column(String(16), nullable=False, default="yaml")
    created_at: Mapped[dt.datetime | None] = mapped_column(DateTime, server_default=func.current_timestamp())
    created_by: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))

    def __repr__(self) -> str:
        return f"{self.name} v{self.version}"


class FormRecord(TenantScoped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "form_record"
    __table_args__ = (
        UniqueConstraint("tenant_id", "form_code", "natural_key", name="uq_form_record_natural_key"),
        Index("ix_form_record_tenant_form_id", "tenant_id", "form_code", "id"),
        Index("ix_form_record_tenant_form_period_org", "tenant_id", "form_code", "period", "org_unit_id"),
    )
    __scope_org_attr__ = "org_unit_id"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    form_code: Mapped[str] = mapped_column(String(32), nullable=False)
    form_version: Mapped[int] = mapped_column(Integer, nullable=False)
    org_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id", ondelete="RESTRICT"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="RESTRICT"))
    period: Mapped[str | None] = mapped_column(String(7))
    natural_key: Mapped[str | None] = mapped_column(String(255))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")
    submitted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime | None] = mapped_column(DateTime, server_default=func.current_timestamp())
    created_by: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    row_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")

    org_unit: Mapped[OrgUnit | None] = relationship()
    person: Mapped[Person | None] = relationship()

    @property
    def audit_entity(self) -> str:
        return f"form:{self.form_code}"

    @property
    def status_label(self) -> str:
        return RECORD_STATUS_LABELS.get(self.status, self.status)

    def audit_snapshot(self, values: dict[str, Any] | None = None) -> dict[str, Any]:
        """What the audit trail keeps: the payload and where/when it belongs (``values``: the row's columns)."""
        v = values if values is not None else {k: getattr(self, k) for k in AUDIT_KEYS}
        return {k: v.get(k) for k in AUDIT_KEYS}

    def __repr__(self) -> str:
        return f"{self.form_code}#{self.id}"

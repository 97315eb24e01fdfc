"""Versioned definitions of a county's custom fields on core entities (person, appointment, org unit).

Kept apart from ``form_definition`` on purpose: everything that lists a county's forms (the forms
index, completeness, export, import templates) must not see these, and a form code can never clash
with an entity.  Like forms, a change is a new ``version`` row, never an overwrite.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import TenantScoped
from app.extensions import db


class CustomFieldDefinition(TenantScoped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "custom_field_definition"
    __table_args__ = (UniqueConstraint("tenant_id", "code", "version", name="uq_custom_field_definition_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), nullable=False)
    """``_person``, ``_appointment`` or ``_org_unit``."""
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    """A form dict (``FormDef.to_dict()``) whose fields are the custom fields."""
    source: Mapped[str] = mapped_column(String(16), nullable=False, default="yaml")
    created_at: Mapped[dt.datetime | None] = mapped_column(DateTime, server_default=func.current_timestamp())
    created_by: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))

    def __repr__(self) -> str:
        return f"{self.name} v{self.version}"

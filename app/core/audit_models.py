"""The audit trail: who changed which row of a county's data, when, and from what to what.

One append-only table for every tenant-scoped entity (core tables and form records alike), so
that "history is never overwritten" holds everywhere and a record's history is one indexed
query. ``entity`` is the table name, or ``form:<code>`` for a form record.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import TenantScoped
from app.extensions import db

AUDIT_ACTIONS = ("create", "update", "delete")


class AuditEvent(TenantScoped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_tenant_entity_row", "tenant_id", "entity", "row_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity: Mapped[str] = mapped_column(String(64), nullable=False)
    row_id: Mapped[int] = mapped_column(Integer, nullable=False)
    action: Mapped[str] = mapped_column(String(8), nullable=False)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, server_default=func.now())
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    source: Mapped[str | None] = mapped_column(String(64))
    """Where the change came from: ``screen``, ``api``, ``import:<job id>``, ``loader``…"""

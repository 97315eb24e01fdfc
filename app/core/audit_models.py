"""The audit trail: who changed which row of a county's data, when, and from what to what.

One append-only table for every tenant-scoped entity (core tables and form records alike), so
that "history is never overwritten" holds everywhere and a record's history is one indexed
query. ``entity`` is the table name, or ``form:<code>`` for a form record.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_babel import gettext
from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.models import TenantScoped
from app.extensions import db

AUDIT_ACTIONS = ("create", "update", "delete")
ACTION_LABELS = {"create": "新增", "update": "修改", "delete": "删除"}


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
    """Where the change came from: ``screen``, ``api``, ``cli``, ``import:<job id>``, ``loader``…"""

    user: Mapped[Any] = relationship("CountyUser", foreign_keys=[user_id], viewonly=True)
    __audited__ = False  # the trail does not audit itself

    @property
    def action_label(self) -> str:
        return gettext(ACTION_LABELS.get(self.action, self.action))

    def __repr__(self) -> str:
        return f"{self.entity}#{self.row_id} {self.action}"

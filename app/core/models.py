"""Tenants and the mixin every tenant-scoped table uses.

``tenant_id`` leads every index and unique key of a scoped table so that the schema
could later be sharded by tenant (e.g. Citus) without redesign.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, func
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from app.extensions import db


class Tenant(db.Model):  # type: ignore[name-defined]
    """A county-level unit (县/县级市/区) running on the platform."""

    __tablename__ = "tenant"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    region: Mapped[str] = mapped_column(String(256), nullable=False, default="")
    locale: Mapped[str] = mapped_column(String(16), nullable=False, default="zh")
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, server_default=func.now())

    def in_region(self, region: str | None) -> bool:
        """A region path such as ``福建省`` covers ``福建省/泉州市``."""
        if not region:
            return False
        mine = self.region.split("/")
        theirs = [p for p in region.split("/") if p]
        return mine[: len(theirs)] == theirs

    def __repr__(self) -> str:
        return self.name


class TenantScoped:
    """Mixin: the row belongs to one tenant; reads and writes are scoped automatically.

    ``__scope_org_attr__`` names the attribute holding the org unit a row is captured
    for, so the data layer can enforce a clerk's capture scope on writes.
    """

    __scope_org_attr__: str | None = None

    @declared_attr
    def tenant_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), nullable=False, index=True)

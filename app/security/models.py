"""The platform's user: FAB's user plus the tenant, region and org scope it acts in."""

from __future__ import annotations

from flask_appbuilder.security.sqla.models import User
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.models import Tenant
from app.orgs.models import OrgUnit


class CountyUser(User):
    """Single-table extension of ``ab_user``.

    ``tenant_id`` is null for provincial viewers (they carry ``region`` instead) and for
    platform administrators. ``scope_org_id`` limits where a clerk may capture data.
    """

    __tablename__ = "ab_user"

    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    region: Mapped[str | None] = mapped_column(String(256))
    scope_org_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id", ondelete="SET NULL"))
    party: Mapped[str | None] = mapped_column(String(64))
    """The department (会签单位) this user speaks for in N-of-M approvals; None: may record any party's opinion."""

    tenant: Mapped[Tenant | None] = relationship(foreign_keys=[tenant_id])
    scope_org: Mapped[OrgUnit | None] = relationship(foreign_keys=[scope_org_id])

"""Cross-tenant counts for the provincial screens — the only audited cross-tenant read."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from app.core.models import Tenant
from app.core.tenancy import read_across_tenants
from app.extensions import db
from app.orgs.models import OrgUnit
from app.staffing.models import Appointment


def region_overview(tenant_ids: list[int]) -> list[dict[str, Any]]:
    if not tenant_ids:
        return []
    session = db.session
    units: list[Any] = read_across_tenants(
        session,
        select(OrgUnit.tenant_id, OrgUnit.level, func.count())
        .where(OrgUnit.tenant_id.in_(tenant_ids))
        .group_by(OrgUnit.tenant_id, OrgUnit.level),
        "province overview: org unit counts",
    ).all()  # type: ignore[assignment]
    staff: list[Any] = read_across_tenants(
        session,
        select(Appointment.tenant_id, func.count())
        .where(Appointment.tenant_id.in_(tenant_ids), Appointment.status == "active")
        .group_by(Appointment.tenant_id),
        "province overview: active appointments",
    ).all()  # type: ignore[assignment]
    tenants = session.scalars(select(Tenant).where(Tenant.id.in_(tenant_ids)).order_by(Tenant.region)).all()
    counts: dict[tuple[int, str], int] = {(row[0], row[1]): row[2] for row in units}
    active: dict[int, int] = {row[0]: row[1] for row in staff}
    return [
        {"tenant": t, "towns": counts.get((t.id, "town"), 0), "villages": counts.get((t.id, "village"), 0),
         "active_staff": active.get(t.id, 0)}
        for t in tenants
    ]

"""Helpers for the staffing tests: run a recompute as a tenant, read quota rows, edit tenant folders."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import aliased

from app.core.tenancy import tenant_context
from app.extensions import db
from app.orgs.models import OrgUnit
from app.staffing.models import Position
from app.staffing.quota_models import PositionRule, StaffingQuota


@dataclass(frozen=True)
class Row:
    org_code: str
    level: str
    parent_code: str | None
    position: str
    quota: float | None
    staffed: int
    vacant: float | None
    over: float | None
    rule_version: int | None
    rule_formula: str | None
    inputs: dict[str, Any] | None


def recompute(tenant_id: int, period: str, **kwargs: Any) -> Any:
    from app.staffing.quotas import recompute_quotas

    with tenant_context(tenant_id):
        return recompute_quotas(period, **kwargs)


def quota_rows(tenant_id: int, period: str) -> dict[tuple[str, str], Row]:
    """Every quota row of a tenant and period, keyed by (org code, position code), read through the ORM."""
    parent = aliased(OrgUnit)
    stmt = (select(OrgUnit.code, OrgUnit.level, parent.code, Position.code, StaffingQuota.quota,
                   StaffingQuota.staffed, StaffingQuota.vacant, StaffingQuota.over, PositionRule.version,
                   PositionRule.formula, StaffingQuota.inputs)
            .join(OrgUnit, OrgUnit.id == StaffingQuota.org_unit_id)
            .outerjoin(parent, parent.id == OrgUnit.parent_id)
            .join(Position, Position.id == StaffingQuota.position_id)
            .outerjoin(PositionRule, PositionRule.id == StaffingQuota.rule_id)
            .where(StaffingQuota.period == period))
    with tenant_context(tenant_id):
        rows = [Row(*r) for r in db.session.execute(stmt)]
        db.session.rollback()
    return {(r.org_code, r.position): r for r in rows}


def raw_quota_rows(tenant_id: int) -> list[Any]:
    """All of a tenant's ``staffing_quota`` rows with plain Core on a fresh connection (no scoping at all)."""
    t = StaffingQuota.__table__
    with db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT set_config('countydesk.all_tenants', 'on', true)"))
        return sorted(conn.execute(select(t).where(t.c.tenant_id == tenant_id)).all())


def load(folder: Path) -> int:
    from app.tenantio.loader import load_tenant_folder

    report = load_tenant_folder(folder)
    assert report.tenant_id is not None
    return report.tenant_id


def add_position(folder: Path, code: str, name: str, level: str, quota: str) -> None:
    """Append a position to a copied tenant.yaml (before ``packs:``)."""
    cfg = folder / "tenant.yaml"
    block = f"  - code: {code}\n    name: {name}\n    org_level: {level}\n    quota: '{quota}'\n"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("packs:", block + "packs:", 1), encoding="utf-8")


def edit_population(folder: Path, org_code: str, period: str, **values: Any) -> None:
    """Change fields of one population row; a missing (org, period) row is added from the org's 2025 row."""
    path = folder / "population.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        fields = list(reader.fieldnames or [])
        rows = list(reader)
    target = next((r for r in rows if r["org_code"] == org_code and r["period"] == period), None)
    if target is None:
        source = next(r for r in rows if r["org_code"] == org_code and r["period"] == "2025")
        target = {**source, "period": period}
        rows.append(target)
    target.update({k: str(v) for k, v in values.items()})
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fields)
        writer.writeheader()
        writer.writerows(rows)


def copy_period(folder: Path, source: str, target: str) -> None:
    """Give every org unit of a copied folder facts for ``target`` equal to those of ``source``."""
    path = folder / "population.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        fields = list(reader.fieldnames or [])
        rows = list(reader)
    rows += [{**r, "period": target} for r in rows if r["period"] == source]
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fields)
        writer.writeheader()
        writer.writerows(rows)


def position(tenant_id: int, code: str) -> Position:
    with tenant_context(tenant_id):
        found = db.session.scalar(select(Position).where(Position.code == code))
        assert found is not None
        return found

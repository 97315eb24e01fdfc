"""Helpers for the forms tests: acting as a demo user in the data layer, and demo org units."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import select

from app.core.tenancy import Scope, reset_scope, set_scope
from app.extensions import db
from app.orgs.models import OrgUnit

SS_TOWN = "350581001"
MONTHLY = "rkjs_monthly"
THIS_MONTH = "2040-01"
"""A period not locked on any day the tests run (village workers and clerks may write it), whatever the clock
says: a fixed far month, not the real current one, so a run across a month's end or in the real worker of the
PostgreSQL/Redis run sees the same open period."""


@contextlib.contextmanager
def acting(tenant_id: int, capture_path: str | None = None, read_only: bool = False) -> Iterator[None]:
    """Run a block as a user of the tenant (county admin when no capture path); rolls back after."""
    token = set_scope(Scope(tenant_id=tenant_id, capture_path=capture_path, read_only=read_only))
    try:
        yield
    finally:
        db.session.rollback()
        reset_scope(token)
        db.session.remove()


def unit(code: str) -> OrgUnit:
    found = db.session.scalar(select(OrgUnit).where(OrgUnit.code == code))
    assert found is not None, code
    return found


def villages(town_code: str) -> list[OrgUnit]:
    town = unit(town_code)
    return list(db.session.scalars(select(OrgUnit).where(OrgUnit.parent_id == town.id, OrgUnit.level == "village")
                                   .order_by(OrgUnit.code)))


def monthly_data(**over: int) -> dict[str, int]:
    data = {"registered_pop": 3000, "resident_pop": 3200, "married_women": 600, "births": 4,
            "births_in_policy": 4, "deaths": 2}
    data.update(over)
    return data

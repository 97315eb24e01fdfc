"""Reporting completeness of a periodic form (DHIS2's reporting rate): per town and for the county.

Expected units are the org units of the form's target level inside the user's scope; a unit's
report is *on time* when submitted by the end of the due day (``services.due_date``) on the
county's clock (``settings.time_zone``, default Asia/Shanghai: submission times are stored in
UTC), *late* when submitted after it, and *missing* otherwise (no record, or a draft never submitted).
Everything is one grouped Core statement, so the tenant is filtered explicitly here (Core
statements are not scoped by the data layer) and the capture path of a town clerk narrows it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, case, func, select

from app.core.errors import CountyDeskError, NotFound
from app.core.tenancy import current_scope, current_tenant_id
from app.extensions import db
from app.forms.definition import FormDef
from app.forms.models import FormRecord
from app.forms.periods import PERIOD_HINTS, PERIOD_PATTERNS, due_date, end_of_day_utc, local_today, tenant_zone
from app.forms.services import get_form
from app.orgs.models import OrgUnit

STATUS_LABELS = {"on_time": "按时", "late": "逾期", "missing": "未报", "draft": "草稿未提交"}
TOTAL_ROW_LABELS = {"scope": "合计", "county": "全县"}


class NotPeriodic(CountyDeskError):
    status = 400


@dataclass(frozen=True)
class Rate:
    """One row of the screen: a town (``org_id`` set) or the county total (``org_id`` None)."""

    org_id: int | None
    code: str
    name: str
    expected: int
    on_time: int
    late: int

    @property
    def submitted(self) -> int:
        return self.on_time + self.late

    @property
    def missing(self) -> int:
        return self.expected - self.submitted

    @property
    def rate(self) -> float | None:
        """Reporting rate in percent (submitted / expected); None when nothing is expected."""
        return round(100.0 * self.submitted / self.expected, 1) if self.expected else None

    @property
    def on_time_rate(self) -> float | None:
        return round(100.0 * self.on_time / self.expected, 1) if self.expected else None


@dataclass(frozen=True)
class UnitStatus:
    """A unit of a drilled-into town and where its report stands."""

    org_id: int
    code: str
    name: str
    status: str
    record_id: int | None
    submitted_at: dt.datetime | None

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]


@dataclass(frozen=True)
class Completeness:
    form: FormDef
    period: str
    due: dt.date
    towns: list[Rate]
    county: Rate

    def due_passed(self, today: dt.date | None = None) -> bool:
        """Whether the due day is over on the county's clock."""
        return (today or local_today()) > self.due


def periodic_form(code: str) -> FormDef:
    """The current version of a periodic org-level form (others have no reporting rate)."""
    form = get_form(code).form
    if not form.periodic or not form.org_target or form.due_day is None:
        raise NotPeriodic(f"「{form.name}」不是有截止日的周期性单位报表，没有上报率")
    return form


def check_period(form: FormDef, period: str) -> dt.date:
    due = due_date(form, period) if PERIOD_PATTERNS[form.periodicity].match(period or "") else None
    if due is None:
        raise NotPeriodic(f"期间「{period}」无效，应为{PERIOD_HINTS[form.periodicity]}")
    return due


@dataclass(frozen=True)
class _Units:
    """The expected units outer-joined to their report for the period, and the on-time/late flags."""

    stmt: Select[Any]
    unit: Any
    rec: Any
    on_time: Any
    late: Any


def _units(form: FormDef, due: dt.date, period: str) -> _Units:
    tenant_id = current_tenant_id()
    unit = OrgUnit.__table__.alias("unit")
    rec = FormRecord.__table__.alias("rec")
    deadline = end_of_day_utc(due, tenant_zone(tenant_id))  # submitted_at is naive UTC
    submitted = and_(rec.c.status == "submitted", rec.c.submitted_at.is_not(None))
    on_time = case((and_(submitted, rec.c.submitted_at < deadline), 1), else_=0)
    late = case((and_(submitted, rec.c.submitted_at >= deadline), 1), else_=0)
    stmt = (select(unit.c.id).select_from(unit)
            .outerjoin(rec, and_(rec.c.tenant_id == tenant_id, rec.c.form_code == form.code,
                                 rec.c.period == period, rec.c.org_unit_id == unit.c.id))
            .where(unit.c.tenant_id == tenant_id, unit.c.level == form.target))
    scope = current_scope()
    if scope is not None and scope.capture_path:
        stmt = stmt.where(unit.c.path.startswith(scope.capture_path))
    return _Units(stmt, unit, rec, on_time, late)


def completeness(code: str, period: str) -> Completeness:
    """Expected, on time, late and missing per town and for the county (within the user's scope)."""
    if current_tenant_id() is None:
        raise NotFound("请先选择县")
    form = periodic_form(code)
    due = check_period(form, period)
    tenant_id = current_tenant_id()
    u = _units(form, due, period)
    counts = (func.count(u.unit.c.id), func.coalesce(func.sum(u.on_time), 0), func.coalesce(func.sum(u.late), 0))
    towns: list[Rate] = []
    if form.target in ("village", "town"):
        # The org tree has no skipped levels (a village's parent is its town), so this is an equi-join on
        # ids rather than a path prefix match, which planners handle badly at thousands of villages.
        town = OrgUnit.__table__.alias("town")
        town_of = u.unit.c.parent_id if form.target == "village" else u.unit.c.id
        grouped = (u.stmt.with_only_columns(town.c.id, town.c.code, town.c.name, *counts)
                   .join(town, and_(town.c.tenant_id == tenant_id, town.c.id == town_of, town.c.level == "town"))
                   .group_by(town.c.id, town.c.code, town.c.name, town.c.path).order_by(town.c.path))
        towns = [Rate(r[0], r[1], r[2], int(r[3]), int(r[4]), int(r[5])) for r in db.session.execute(grouped)]
    total = db.session.execute(u.stmt.with_only_columns(*counts)).one()
    scope = current_scope()
    name = TOTAL_ROW_LABELS["scope" if scope is not None and scope.capture_path else "county"]
    county = Rate(None, "", name, int(total[0]), int(total[1]), int(total[2]))
    return Completeness(form, period, due, towns, county)


def town_detail(code: str, period: str, town_id: int) -> tuple[OrgUnit, list[UnitStatus]]:
    """The town (in scope) and each expected unit under it with its report's status, by code."""
    form = periodic_form(code)
    due = check_period(form, period)
    town = db.session.scalar(select(OrgUnit).where(OrgUnit.id == town_id, OrgUnit.level == "town"))
    scope = current_scope()
    capture = scope.capture_path if scope else None
    if town is None or (capture and not (town.path.startswith(capture) or capture.startswith(town.path))):
        raise NotFound("镇（乡、街道）不存在或不在您的范围内")
    u = _units(form, due, period)
    in_town = u.unit.c.parent_id == town.id if form.target == "village" else u.unit.c.id == town.id
    stmt = (u.stmt.with_only_columns(u.unit.c.id, u.unit.c.code, u.unit.c.name, u.rec.c.id, u.rec.c.status,
                                     u.rec.c.submitted_at, u.on_time, u.late)
            .where(in_town).order_by(u.unit.c.path))
    out = []
    for r in db.session.execute(stmt):
        status = "on_time" if r[6] else "late" if r[7] else "draft" if r[3] is not None else "missing"
        out.append(UnitStatus(r[0], r[1], r[2], status, r[3], r[5]))
    return town, out


__all__ = ["STATUS_LABELS", "Completeness", "NotPeriodic", "Rate", "UnitStatus", "completeness", "periodic_form",
           "town_detail"]

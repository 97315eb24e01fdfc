"""Periods of periodic forms: their shape, due date, lock date, and the county's own clock.

Why a county clock: a report is due by the end of the due day *where the county is*. Submission
times are stored in UTC, so "by the end of 5 February" in Beijing is before 16:00 UTC that day;
comparing naive UTC with the local calendar day counted reports made on the morning of the 6th
as on time. The time zone is a county setting (``settings.time_zone`` in tenant.yaml, an IANA
name such as ``Asia/Shanghai``, the default), read once per request-sized call; the clock itself
and the zone helpers live in ``app.core.clock`` (re-exported here for the forms' callers).
"""

from __future__ import annotations

import calendar
import datetime as dt
from zoneinfo import ZoneInfo

from app.core.clock import DEFAULT_TIME_ZONE, TIME_ZONE_SETTING, tenant_zone, zone_named
from app.core.clock import today as local_today
from app.core.text_rules import period_regex
from app.forms.definition import FormDef

PERIOD_PATTERNS = {kind: period_regex(kind) for kind in ("monthly", "quarterly", "yearly")}
"""ASCII digits only (``app.core.text_rules``): ``\\d`` also matches ``２０２５``, a phantom period beside ``2025``."""
PERIOD_HINTS = {"monthly": "年月，如 2025-03", "quarterly": "季度，如 2025-Q1", "yearly": "年份，如 2025"}


def end_of_day_utc(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    """The first instant after ``day`` in ``zone``, as naive UTC (how submission times are stored)."""
    midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=zone)
    return midnight.astimezone(dt.UTC).replace(tzinfo=None)


def period_end(periodicity: str, period: str) -> dt.date:
    if periodicity == "monthly":
        year, month = int(period[:4]), int(period[5:7])
    elif periodicity == "quarterly":
        year, month = int(period[:4]), int(period[-1]) * 3
    else:
        year, month = int(period[:4]), 12
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def due_date(form: FormDef, period: str) -> dt.date | None:
    """The ``due_day`` of the month after the period."""
    if not form.periodic or form.due_day is None or not PERIOD_PATTERNS[form.periodicity].match(period):
        return None
    after = period_end(form.periodicity, period) + dt.timedelta(days=1)
    return after.replace(day=form.due_day)


def lock_date(form: FormDef, period: str | None) -> dt.date | None:
    """The first day (county clock) the period is read-only (None: never locked)."""
    if period is None or form.lock_after_days is None:
        return None
    due = due_date(form, period)
    return due + dt.timedelta(days=form.lock_after_days + 1) if due else None


def is_locked(form: FormDef, period: str | None, today: dt.date | None = None) -> bool:
    locked_from = lock_date(form, period)
    return locked_from is not None and (today or local_today()) >= locked_from


__all__ = ["DEFAULT_TIME_ZONE", "PERIOD_HINTS", "PERIOD_PATTERNS", "TIME_ZONE_SETTING", "due_date",
           "end_of_day_utc", "is_locked", "local_today", "lock_date", "period_end", "tenant_zone", "zone_named"]

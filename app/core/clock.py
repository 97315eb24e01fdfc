"""The one place that reads the real time; everything else asks here.

Why one place: a date read in five ways (server-local, UTC, the county's) is five chances to count a
report filed on the morning of the 6th as filed on the 5th, and a test that reads the real clock fails
once a month at midnight. With every read behind these functions, tests freeze time in one way
(``time_machine``) and a reader sees at a glance which clock a timestamp comes from:

- ``now()`` — aware UTC; for schedulers and instants compared across machines.
- ``utcnow_naive()`` — naive UTC, how audit and record timestamps are stored.
- ``server_now()`` / ``server_today()`` — the server's own wall clock, naive; what workflow due times
  and terms have always been computed on (kept as they are: changing them changes stored data).
- ``local_now(zone)`` / ``today(zone)`` — the county's clock (``settings.time_zone`` in tenant.yaml,
  an IANA name such as ``Asia/Shanghai``, the default), for "by the end of the due day where the
  county is".
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIME_ZONE = "Asia/Shanghai"
TIME_ZONE_SETTING = "time_zone"
"""Key under the tenant's ``settings`` (tenant.yaml ``settings: {time_zone: Asia/Shanghai}``)."""

log = logging.getLogger(__name__)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def utcnow_naive() -> dt.datetime:
    """UTC without a zone: the columns holding submission and audit times are naive UTC."""
    return now().replace(tzinfo=None)


def server_now() -> dt.datetime:
    """The server's wall clock without a zone (``datetime.now()``)."""
    return dt.datetime.now()


def server_today() -> dt.date:
    """The server's calendar day (``date.today()``)."""
    return server_now().date()


def zone_named(name: Any) -> ZoneInfo:
    """The zone of a setting's value; a missing or unknown name falls back to the default (logged).

    Falling back rather than failing: a typo in one county's settings must not stop its data entry,
    and every county of the country is on the default zone's clock officially.
    """
    if isinstance(name, str) and name.strip():
        try:
            return ZoneInfo(name.strip())
        except (ZoneInfoNotFoundError, ValueError):
            log.warning("settings.time_zone %r is not a known time zone; using %s", name, DEFAULT_TIME_ZONE)
    return ZoneInfo(DEFAULT_TIME_ZONE)


def tenant_zone(tenant_id: int | None = None) -> ZoneInfo:
    """The current (or given) tenant's time zone from its settings."""
    from app.core.models import Tenant
    from app.core.tenancy import current_tenant_id
    from app.extensions import db

    tenant_id = current_tenant_id() if tenant_id is None else tenant_id
    tenant = db.session.get(Tenant, tenant_id) if tenant_id is not None else None
    settings = ((tenant.settings or {}).get("settings") or {}) if tenant is not None else {}
    return zone_named(settings.get(TIME_ZONE_SETTING) if isinstance(settings, dict) else None)


def local_now(zone: ZoneInfo | None = None) -> dt.datetime:
    """The county's wall clock, aware (the server may run on UTC)."""
    return now().astimezone(zone or tenant_zone())


def today(zone: ZoneInfo | None = None) -> dt.date:
    """Today's date on the county's clock."""
    return local_now(zone).date()


__all__ = ["DEFAULT_TIME_ZONE", "TIME_ZONE_SETTING", "local_now", "now", "server_now", "server_today",
           "tenant_zone", "today", "utcnow_naive", "zone_named"]

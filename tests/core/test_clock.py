"""One clock: the county's day turns at the county's midnight, and nothing in app/ reads the time elsewhere."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import time_machine
from sqlalchemy import select

from app.core import clock
from app.core.models import Tenant
from app.core.tenancy import tenant_context
from app.extensions import db

APP = Path(__file__).resolve().parents[2] / "app"
# 2025-03-31 16:30 UTC is already 2025-04-01 00:30 in Beijing, still the 31st (17:30) in London
AFTER_BEIJING_MIDNIGHT = dt.datetime(2025, 3, 31, 16, 30, tzinfo=dt.UTC)
REAL_CLOCK_READ = re.compile(r"\b(?:datetime|date)\.(?:now|today|utcnow)\("
                             r"|\btime\.(?:time|time_ns|localtime|gmtime|ctime)\(")


def _set_zone(tenant_id: int, name: str) -> None:
    tenant = db.session.scalar(select(Tenant).where(Tenant.id == tenant_id))
    stored = dict(tenant.settings or {})
    tenant.settings = {**stored, "settings": {**(stored.get("settings") or {}), "time_zone": name}}
    db.session.flush()


def test_today_follows_the_county_zone_across_utc_midnight(app, demo):
    tenant_id = demo["tenant_ids"]["shishi"]
    with time_machine.travel(AFTER_BEIJING_MIDNIGHT, tick=False), app.app_context(), tenant_context(tenant_id):
        try:
            assert clock.utcnow_naive() == dt.datetime(2025, 3, 31, 16, 30)
            assert clock.now() == AFTER_BEIJING_MIDNIGHT
            assert clock.today() == dt.date(2025, 4, 1)  # the default zone, Asia/Shanghai
            assert clock.local_now().replace(tzinfo=None) == dt.datetime(2025, 4, 1, 0, 30)
            _set_zone(tenant_id, "Europe/London")
            assert clock.today() == dt.date(2025, 3, 31)
            assert clock.today(clock.zone_named("Asia/Urumqi")) == dt.date(2025, 3, 31)  # 22:30 there
        finally:
            db.session.rollback()
            db.session.remove()


def test_a_county_with_an_unknown_zone_counts_days_on_beijing_time(app, demo):
    tenant_id = demo["tenant_ids"]["shishi"]
    with time_machine.travel(AFTER_BEIJING_MIDNIGHT, tick=False), app.app_context(), tenant_context(tenant_id):
        try:
            _set_zone(tenant_id, "Mars/Olympus")
            assert clock.today() == dt.date(2025, 4, 1)
        finally:
            db.session.rollback()
            db.session.remove()


def test_only_the_clock_module_reads_the_real_time():
    reads = [f"{path.relative_to(APP.parent)}:{number}: {line.strip()}"
             for path in sorted(APP.rglob("*.py")) if path.name != "clock.py" or path.parent.name != "core"
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
             if REAL_CLOCK_READ.search(line)]
    assert reads == [], "read the time through app.core.clock instead:\n" + "\n".join(reads)


def test_the_meta_test_sees_the_reads_it_forbids():
    for line in ("x = dt.date.today()", "datetime.now(dt.UTC)", "dt.datetime.utcnow()", "time.time() - t0"):
        assert REAL_CLOCK_READ.search(line), line
    for line in ("func.now()", "clock.today()", "time.monotonic()", "self.update.now()"):
        assert not REAL_CLOCK_READ.search(line), line

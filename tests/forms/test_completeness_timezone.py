"""The on-time cutoff is the end of the due day on the county's clock (settings.time_zone, default Asia/Shanghai)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from forms_support import MONTHLY, SS_TOWN, monthly_data, villages
from sqlalchemy import select

from app.core.models import Tenant
from app.core.tenancy import tenant_context
from app.extensions import db
from app.forms import services
from app.forms.completeness import completeness, town_detail
from app.forms.periods import end_of_day_utc, zone_named
from app.tenantio.loader import load_tenant_folder

PERIOD = "2025-01"  # due 2025-02-05 (due_day 5)


def _submitted(village_id: int, at_utc: dt.datetime) -> None:
    record = services.create_record(MONTHLY, {"org_unit_id": village_id, "period": PERIOD, "data": monthly_data()})
    record.status, record.submitted_at = "submitted", at_utc
    db.session.flush()


def _statuses(town_id: int) -> list[str]:
    return [u.status for u in town_detail(MONTHLY, PERIOD, town_id)[1][:3]]


def test_the_cutoff_is_midnight_beijing_time_on_both_sides(app, copy_tenant):
    folder = copy_tenant("shishi", "tz_default")
    with app.app_context():
        tenant_id = load_tenant_folder(folder).tenant_id
        with tenant_context(tenant_id):
            town = villages(SS_TOWN)
            # 2025-02-05 23:30 Beijing = 15:30 UTC: on time (the example)
            _submitted(town[0].id, dt.datetime(2025, 2, 5, 15, 30))
            # 2025-02-06 00:30 Beijing = 2025-02-05 16:30 UTC: late, although still the 5th in UTC
            _submitted(town[1].id, dt.datetime(2025, 2, 5, 16, 30))
            # 2025-02-06 07:00 Beijing = 2025-02-05 23:00 UTC: late
            _submitted(town[2].id, dt.datetime(2025, 2, 5, 23, 0))
            town_id = town[0].parent_id
            assert _statuses(town_id) == ["on_time", "late", "late"]
            rate = next(r for r in completeness(MONTHLY, PERIOD).towns if r.code == SS_TOWN)
            assert (rate.on_time, rate.late) == (1, 2)
            db.session.rollback()
        db.session.remove()


def test_a_county_setting_its_own_time_zone_moves_the_cutoff(app, copy_tenant):
    folder = copy_tenant("shishi", "tz_urumqi")
    with app.app_context():
        tenant_id = load_tenant_folder(folder).tenant_id
        with tenant_context(tenant_id):
            tenant = db.session.scalar(select(Tenant).where(Tenant.id == tenant_id))
            stored = dict(tenant.settings or {})
            tenant.settings = {**stored, "settings": {**(stored.get("settings") or {}), "time_zone": "Asia/Urumqi"}}
            db.session.flush()
            town = villages(SS_TOWN)
            # Urumqi is UTC+6: its 5 February ends at 18:00 UTC
            _submitted(town[0].id, dt.datetime(2025, 2, 5, 17, 59))  # on time there, late in Beijing
            _submitted(town[1].id, dt.datetime(2025, 2, 5, 18, 0))   # late
            assert _statuses(town[0].parent_id)[:2] == ["on_time", "late"]
            db.session.rollback()
        db.session.remove()


def test_end_of_day_and_an_unknown_zone_falls_back_to_beijing_time():
    beijing = ZoneInfo("Asia/Shanghai")
    assert end_of_day_utc(dt.date(2025, 2, 5), beijing) == dt.datetime(2025, 2, 5, 16, 0)
    assert zone_named("Mars/Olympus") == beijing
    assert zone_named(None) == beijing
    assert zone_named("Asia/Urumqi") == ZoneInfo("Asia/Urumqi")

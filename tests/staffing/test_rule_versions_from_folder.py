"""A quota formula changed in tenant.yaml becomes a new rule version from its date (SS-1)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from app.core.tenancy import tenant_context
from app.extensions import db
from app.staffing.models import Position
from app.staffing.rules import current_rule
from app.tenantio.loader import load_tenant_folder


def test_changed_formula_in_folder_is_a_new_version_from_its_date(app, copy_tenant):
    folder = copy_tenant("shishi", "ss_rules")
    with app.app_context():
        first = load_tenant_folder(folder)
        assert first.inserted.get("position_rule") == 2  # quota and eligibility, version 1 each
        assert load_tenant_folder(folder).changed is False  # reloading adds no version
        cfg = folder / "tenant.yaml"
        text = cfg.read_text(encoding="utf-8").replace(
            "    quota: MAX(1, CEILING(计生常住人口 / 1500))",
            "    quota: MAX(1, CEILING(计生常住人口 / 1000))\n    quota_from: 2026-01-01")
        cfg.write_text(text, encoding="utf-8")
        second = load_tenant_folder(folder)
        assert second.inserted.get("position_rule") == 1
        with tenant_context(first.tenant_id):
            position = db.session.scalar(select(Position).where(Position.code == "XGY"))
            old = current_rule(position, "quota", dt.date(2025, 12, 31))
            new = current_rule(position, "quota", dt.date(2026, 12, 31))
        assert old.version == 1 and "1500" in old.formula
        assert new.version == 2 and "1000" in new.formula and new.effective_from == dt.date(2026, 1, 1)

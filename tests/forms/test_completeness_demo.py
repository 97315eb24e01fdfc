"""The demo reports (app.forms.demo): every monthly village form gets on-time, late, draft and missing reports."""

from __future__ import annotations

import datetime as dt

from app.core.tenancy import tenant_context
from app.extensions import db
from app.forms.completeness import completeness
from app.forms.demo import load_demo_records
from app.tenantio.loader import load_tenant_folder

JANUARY_2026 = dt.date(2026, 1, 15)
"""The demo's today in these tests: every month of 2025 is reported on."""


def test_demo_reports_show_on_time_late_and_missing_and_loading_again_adds_nothing(app, copy_tenant):
    folder = copy_tenant("guanling", "gl_demo1")
    with app.app_context():
        tenant_id = load_tenant_folder(folder).tenant_id
        with tenant_context(tenant_id):
            added = load_demo_records(JANUARY_2026)
            assert added > 0
            for code in ("XS_LH", "XS_TJ", "XS_GK"):  # the pack's minutes and ledgers, rules satisfied
                rate = completeness(code, "2025-03").county
                assert rate.on_time > 0 and rate.late > 0 and rate.missing > 0, code
                assert rate.on_time > rate.late
            december = completeness("XS_LH", "2025-12").county
            assert december.missing > completeness("XS_LH", "2025-03").county.missing  # the month to chase
            figures = [(r.code, r.on_time, r.late) for r in completeness("XS_TJ", "2025-06").towns]
            assert load_demo_records(JANUARY_2026) == 0
            assert [(r.code, r.on_time, r.late) for r in completeness("XS_TJ", "2025-06").towns] == figures
        db.session.remove()


def test_demo_reports_are_the_same_on_every_load(app, copy_tenant):
    results = []
    for slug in ("gl_demo2", "gl_demo3"):
        folder = copy_tenant("guanling", slug)
        with app.app_context():
            tenant_id = load_tenant_folder(folder).tenant_id
            with tenant_context(tenant_id):
                load_demo_records(JANUARY_2026)
                results.append([(r.code, r.expected, r.on_time, r.late, r.missing)
                                for r in completeness("XS_YF", "2025-08").towns])
            db.session.remove()
    assert results[0] == results[1] and results[0]

"""Versioned, effective-dated rules: a new rule from a date never rewrites earlier periods."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from staffing_support import copy_period, load, position, quota_rows, recompute

from app.core.tenancy import tenant_context
from app.extensions import db
from app.formulas import FormulaError
from app.staffing.quota_models import PositionRule
from app.staffing.rules import (
    BEGINNING,
    RuleError,
    current_rule,
    ensure_rules_from_positions,
    period_end,
    rule_history,
    set_rule,
)

NEW_SS1 = "MAX(1, CEILING(计生常住人口 / 1000))"


def _rule_count(tenant_id: int) -> int:
    with tenant_context(tenant_id):
        return db.session.scalar(select(func.count()).select_from(PositionRule))


@pytest.mark.parametrize("period, day", [("2025", dt.date(2025, 12, 31)), ("2025-02", dt.date(2025, 2, 28)),
                                         ("2024-02", dt.date(2024, 2, 29)), ("2025-12", dt.date(2025, 12, 31))])
def test_a_period_is_judged_on_its_last_day(period, day):
    assert period_end(period) == day


@pytest.mark.parametrize("period", ["2025-13", "25", "2025-3", "2025/03", ""])
def test_a_malformed_period_is_refused_in_chinese(period):
    with pytest.raises(RuleError, match="格式不对"):
        period_end(period)


def test_version_one_comes_from_the_tenant_folder_once(app, demo):
    tenant_id = demo["tenant_ids"]["guanling"]
    with app.app_context():
        with tenant_context(tenant_id):
            ensure_rules_from_positions(tenant_id)
            db.session.commit()
            before = _rule_count(tenant_id)
            assert ensure_rules_from_positions(tenant_id) == 0
            rkzr = position(tenant_id, "RKZR")
            rule = current_rule(rkzr, "quota", dt.date(1990, 1, 1))
            assert rule is not None
            assert (rule.version, rule.effective_from, rule.formula) == (1, BEGINNING, rkzr.quota_formula)
            eligibility = current_rule(rkzr, "eligibility", dt.date(2025, 1, 1))
            assert eligibility is not None and eligibility.formula == 'AND(年龄 <= 40, 学历 >= "高中")'
        assert _rule_count(tenant_id) == before


def test_a_new_rule_from_2026_leaves_2025_alone(app, copy_tenant):
    folder = copy_tenant("shishi", "ss_dated")
    copy_period(folder, "2025", "2026")
    with app.app_context():
        tenant_id = load(folder)
        recompute(tenant_id, "2025")
        before = quota_rows(tenant_id, "2025")
        with tenant_context(tenant_id, user_id=None):
            xgy = position(tenant_id, "XGY")
            rule = set_rule(xgy, "quota", NEW_SS1, dt.date(2026, 1, 1))
            assert rule.version == 2
            assert current_rule(xgy, "quota", dt.date(2025, 12, 31)).version == 1
            assert current_rule(xgy, "quota", dt.date(2026, 1, 1)).version == 2
            assert [r.version for r in rule_history(xgy, "quota")] == [1, 2]
        recompute(tenant_id, "2026")
        assert quota_rows(tenant_id, "2025") == before  # the 2026 recompute did not touch 2025
        recompute(tenant_id, "2025")
        again = quota_rows(tenant_id, "2025")
        after = quota_rows(tenant_id, "2026")
    assert {k: (r.quota, r.rule_version) for k, r in again.items()} == {
        k: (r.quota, r.rule_version) for k, r in before.items()}
    assert {r.rule_version for r in again.values()} == {1}
    assert {r.rule_version for r in after.values()} == {2}
    assert {r.rule_formula for r in after.values()} == {NEW_SS1}
    by_resident = {r.inputs["resident_pop"]: r.quota for r in after.values() if "resident_pop" in (r.inputs or {})}
    assert (by_resident[800], by_resident[1500], by_resident[3200]) == (1, 2, 4)


def test_a_correction_from_the_same_date_wins_and_over_staffing_shows(app, copy_tenant):
    """Version 2 from 1900-01-01 replaces version 1 everywhere; quota 0 makes every TGJSY worker 'over'."""
    folder = copy_tenant("guanling", "gl_over")
    with app.app_context():
        tenant_id = load(folder)
        with tenant_context(tenant_id):
            set_rule(position(tenant_id, "TGJSY"), "quota", "0", BEGINNING)
        recompute(tenant_id, "2025")
        rows = quota_rows(tenant_id, "2025")
    villages = [r for (_, code), r in rows.items() if code == "TGJSY" and r.level == "village"]
    assert {r.rule_version for r in villages} == {2}
    staffed = [r for r in villages if r.staffed]
    assert staffed and all(r.over == r.staffed and r.vacant == 0 and r.quota == 0 for r in staffed)
    county = next(r for (_, code), r in rows.items() if code == "TGJSY" and r.level == "county")
    assert county.over == sum(r.staffed for r in villages) and county.vacant == 0


@pytest.mark.parametrize("text, message", [
    ("MAX(1, CEILING(计生常住人口 / 1500)", "第1行"),
    ("MAX(1, CEILING(人品 / 1500))", "未知变量「人品」"),
    ("计生常住人口 > 1500", "定额公式的结果应为数字"),
    ("", "第1行"),
])
def test_a_bad_formula_is_refused_in_chinese_and_nothing_is_saved(app, demo, text, message):
    tenant_id = demo["tenant_ids"]["shishi"]
    with app.app_context():
        with tenant_context(tenant_id):
            ensure_rules_from_positions(tenant_id)
            db.session.commit()
        before = _rule_count(tenant_id)
        with tenant_context(tenant_id), pytest.raises(FormulaError) as err:
            set_rule(position(tenant_id, "XGY"), "quota", text, dt.date(2026, 1, 1))
        assert message in str(err.value)
        assert _rule_count(tenant_id) == before


def test_an_unknown_rule_kind_is_refused(app, demo):
    tenant_id = demo["tenant_ids"]["shishi"]
    with app.app_context(), tenant_context(tenant_id), pytest.raises(RuleError, match="未知的规则类型"):
        set_rule(position(tenant_id, "XGY"), "salary", "1", dt.date(2026, 1, 1))


def test_eligibility_rules_are_checked_against_person_fields(app, copy_tenant):
    folder = copy_tenant("shishi", "ss_elig")
    with app.app_context():
        tenant_id = load(folder)
        with tenant_context(tenant_id):
            assert ensure_rules_from_positions(tenant_id) == 0  # the loader already made version 1 of both
            xgy = position(tenant_id, "XGY")
            with pytest.raises(FormulaError, match="计生常住人口"):
                set_rule(xgy, "eligibility", "计生常住人口 > 1", dt.date(2026, 1, 1))
            rule = set_rule(xgy, "eligibility", 'AND(年龄 >= 25, 年龄 <= 50, 学历 >= "初中")', dt.date(2026, 1, 1))
            assert rule.version == 2 and current_rule(xgy, "eligibility", dt.date(2025, 6, 1)).version == 1


def test_clerks_cannot_set_county_rules(app, demo):
    from app.core.errors import ScopeDenied

    tenant_id = demo["tenant_ids"]["shishi"]
    with app.app_context():
        before = _rule_count(tenant_id)
        with tenant_context(tenant_id, capture_path="/350581/350581001/"), pytest.raises(ScopeDenied):
            set_rule(position(tenant_id, "XGY"), "quota", NEW_SS1, dt.date(2026, 1, 1))
        assert _rule_count(tenant_id) == before

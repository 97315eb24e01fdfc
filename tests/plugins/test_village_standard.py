"""The village standardisation pack: XS-1 meeting minutes and XS-5 ledgers as reusable form templates."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from app.core.tenancy import Scope, reset_scope, set_scope
from app.extensions import db
from app.forms.config import form_templates
from app.forms.definition import parse_form
from app.forms.services import FormValidationError, create_record, get_form
from app.hooks.formulas import formula_registry
from app.hooks.manager import get_plugin_manager
from app.orgs.models import OrgUnit
from app.tenantio.loader import load_tenant_folder
from app.tenantio.problems import TenantFolderInvalid

XS5_LEDGERS = ("ledger_statistics", "ledger_women", "ledger_reports", "ledger_handbooks", "ledger_permits",
               "ledger_monitoring", "ledger_followup", "ledger_needs", "ledger_disclosure")
"""The nine management systems the seed lists under XS-5 (需求信息收集分析使用 included)."""


@contextlib.contextmanager
def acting(tenant_id: int) -> Iterator[None]:
    """A county admin of the tenant in the data layer; rolls back after."""
    token = set_scope(Scope(tenant_id=tenant_id, capture_path=None, read_only=False))
    try:
        yield
    finally:
        db.session.rollback()
        reset_scope(token)
        db.session.remove()


def _hook_output() -> list[dict]:
    pm = get_plugin_manager(allow="village_standard")
    return [t for found in pm.hook.countydesk_register_form_templates() for t in found]


def test_xs1_xs5_every_template_of_the_pack_parses(app):
    templates = _hook_output()
    ids = {t["template"] for t in templates}
    assert ids == {"village_standard.meeting_minutes", *(f"village_standard.{x}" for x in XS5_LEDGERS)}
    with app.app_context():
        registry = formula_registry()
        for t in templates:
            form, problems = parse_form({k: v for k, v in t.items() if k != "template"}, registry)
            assert problems == [], t["template"]
            assert form is not None and form.periodic and form.target == "village" and form.due_day


def test_xs5_ledgers_hold_aggregate_counts_only(app):
    """DOMAIN §9: the monitoring and follow-up ledgers count people; no person field anywhere in the pack."""
    with app.app_context():
        for t in _hook_output():
            form, _ = parse_form({k: v for k, v in t.items() if k != "template"}, formula_registry())
            assert form is not None
            assert form.target != "person"
            assert not [f for f in form.fields if f.type in ("person", "attachment")], t["template"]


def test_xs1_minutes_from_the_template_with_overrides_enforce_the_pack_rule(app, copy_tenant):
    folder = copy_tenant("shishi", "ss_tpl1")
    cfg = folder / "tenant.yaml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace(
        "forms:\n", "forms:\n  - template: village_standard.meeting_minutes\n"
                    "    code: LH2\n    name: 村两委月度例会记录\n", 1), encoding="utf-8")
    with app.app_context():
        report = load_tenant_folder(folder)
        with acting(report.tenant_id):
            live = get_form("LH2")
            assert live.form.name == "村两委月度例会记录"
            assert live.form.periodicity == "monthly" and live.form.due_day == 10
            village = db.session.scalar(
                select(OrgUnit).where(OrgUnit.level == "village").order_by(OrgUnit.code))
            payload = {"org_unit_id": village.id, "period": "2025-03",
                       "data": {"meeting_date": "2025-03-05", "convener_role": "村党支部书记", "convener": "王书记",
                                "attendee_roles": ["村支两委成员", "育龄妇女小组长"], "attendees": "王、李",
                                "attendee_count": 2, "last_month": "完成", "this_month": "随访",
                                "copy_to_town": True}}
            with pytest.raises(FormValidationError) as err:
                create_record("LH2", payload)
            assert "工作例会参会人数不能少于3人" in err.value.errors["_form"][0]
            payload["data"]["attendee_count"] = 7
            assert create_record("LH2", payload).data["attendee_count"] == 7
        # loading again creates no new version
        again = load_tenant_folder(folder)
        assert again.changed is False


def test_xs1_unknown_template_is_a_located_problem_listing_the_available_ones(app, copy_tenant):
    folder = copy_tenant("shishi", "ss_tpl2")
    cfg = folder / "tenant.yaml"
    text = cfg.read_text(encoding="utf-8")
    line = text[:text.index("forms:\n")].count("\n") + 2
    cfg.write_text(text.replace("forms:\n", "forms:\n  - template: village_standard.minutes\n", 1),
                   encoding="utf-8")
    with app.app_context(), pytest.raises(TenantFolderInvalid) as err:
        load_tenant_folder(folder)
    found = [p for p in err.value.problems if p.field == "forms.0.template"]
    assert found and found[0].file == "tenant.yaml" and found[0].line == line
    assert "表单模板「village_standard.minutes」不存在" in found[0].message
    assert "village_standard.meeting_minutes" in found[0].message
    assert "village_standard.ledger_women" in found[0].message


def test_xs5_a_template_entry_may_only_override_code_and_name(app, copy_tenant):
    folder = copy_tenant("shishi", "ss_tpl3")
    cfg = folder / "tenant.yaml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace(
        "forms:\n", "forms:\n  - template: village_standard.ledger_women\n    due_day: 20\n", 1), encoding="utf-8")
    with app.app_context(), pytest.raises(TenantFolderInvalid) as err:
        load_tenant_folder(folder)
    assert any(p.field == "forms.0.due_day" and "只能改写 code、name" in p.message for p in err.value.problems)


def test_xs5_guanling_uses_the_pack(app, demo):
    with app.app_context(), acting(demo["tenant_ids"]["guanling"]):
        from app.forms.services import current_forms

        codes = {live.form.code for live in current_forms()}
        assert {"XS_LH", "XS_TJ", "XS_YF", "XS_BB", "XS_SC", "XS_SYZ", "XS_HY", "XS_SF", "XS_GK"} <= codes
        assert get_form("XS_YF").form.name == "育龄妇女信息管理台账"


def test_templates_of_a_pack_not_allowed_are_not_offered(app):
    pm = get_plugin_manager(allow="no_such_pack")
    assert form_templates(pm) == {}

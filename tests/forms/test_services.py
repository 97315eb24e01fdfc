"""Form record services without HTTP: validation, rules, defaults, natural key, lock, optimistic locking."""

from __future__ import annotations

import datetime as dt

import pytest
from forms_support import MONTHLY, SS_TOWN, THIS_MONTH, acting, monthly_data, unit, villages

from app.core.errors import NotFound, ScopeDenied
from app.core.locking import EditConflict
from app.extensions import db
from app.forms import services
from app.forms.models import FormRecord
from app.forms.services import FormValidationError, PeriodLocked


def test_ss8_monthly_report_is_created_for_a_village(app, demo):
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        village = villages(SS_TOWN)[0]
        record = services.create_record(MONTHLY, {"org_unit_id": village.id, "period": "2025-03",
                                                  "data": monthly_data()})
        assert record.id and record.natural_key == f"o{village.id}|2025-03"
        assert record.data["births"] == 4 and record.status == "draft" and record.form_version == 1


def test_cross_field_rule_message_and_nothing_saved(app, demo):
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        village = villages(SS_TOWN)[0]
        with pytest.raises(FormValidationError) as err:
            services.create_record(MONTHLY, {"org_unit_id": village.id, "period": "2025-04",
                                             "data": monthly_data(births=2, births_in_policy=3)})
        assert err.value.errors == {"_form": ["其中政策内出生人数不能大于出生人数"]}
        assert db.session.query(FormRecord).filter_by(period="2025-04").count() == 0


def test_field_errors_are_chinese_one_list_per_field(app, demo):
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        village = villages(SS_TOWN)[0]
        with pytest.raises(FormValidationError) as err:
            services.create_record(MONTHLY, {"org_unit_id": village.id, "period": "2025-13",
                                             "data": {**monthly_data(births=-1), "registered_pop": "很多",
                                                      "nonsense": 1}})
        errors = err.value.errors
        assert errors["births"] == ["不能小于 0"]
        assert errors["registered_pop"] == ["应为整数"]
        assert errors["nonsense"] == ["未知字段（表单中没有这个字段）"]
        assert errors["period"] == ["期间「2025-13」无效，应为年月，如 2025-03"]


def test_wrong_org_level_is_refused(app, demo):
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        with pytest.raises(FormValidationError) as err:
            services.create_record(MONTHLY, {"org_unit_id": unit(SS_TOWN).id, "period": "2025-03",
                                             "data": monthly_data()})
        assert "由村（社区）填报" in err.value.errors["org_unit_id"][0]


def test_natural_key_one_report_per_village_and_month(app, demo):
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        village = villages(SS_TOWN)[1]
        payload = {"org_unit_id": village.id, "period": "2025-05", "data": monthly_data()}
        services.create_record(MONTHLY, payload)
        with pytest.raises(FormValidationError) as err:
            services.create_record(MONTHLY, payload)
        assert "已经填报过" in err.value.errors["_form"][0]


def test_update_conflict_shows_both_versions(app, demo):
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        village = villages(SS_TOWN)[0]
        record = services.create_record(MONTHLY, {"org_unit_id": village.id, "period": "2025-06",
                                                  "data": monthly_data()})
        db.session.commit()
        rid = record.id
        services.update_record(MONTHLY, rid, {"data": {"births": 5, "births_in_policy": 5}}, 1)
        db.session.commit()
        assert services.get_record(MONTHLY, rid).row_version == 2
        with pytest.raises(EditConflict) as err:
            services.update_record(MONTHLY, rid, {"data": {"births": 9}}, 1)
        assert err.value.theirs["births"] == 5 and err.value.mine == {"births": 9}
        assert services.get_record(MONTHLY, rid).data["births"] == 5
        services.delete_record(MONTHLY, rid, 2)
        db.session.commit()


def test_period_lock_refuses_clerks_not_county_admins(app, demo):
    tid = demo["tenant_ids"]["shishi"]
    late = dt.date(2025, 2, 20)  # January is due 5 February, locked from 16 February
    with app.app_context(), acting(tid, capture_path=f"/350581/{SS_TOWN}/"):
        village = villages(SS_TOWN)[0]
        with pytest.raises(PeriodLocked) as err:
            services.create_record(MONTHLY, {"org_unit_id": village.id, "period": "2025-01", "data": monthly_data()},
                                   today=late)
        assert "锁定" in err.value.message and isinstance(err.value, ScopeDenied)
        record = services.create_record(MONTHLY, {"org_unit_id": village.id, "period": "2025-01",
                                                  "data": monthly_data()}, today=dt.date(2025, 2, 15))
        assert record.id
    with app.app_context(), acting(tid):
        village = villages(SS_TOWN)[0]
        assert services.create_record(MONTHLY, {"org_unit_id": village.id, "period": "2025-01",
                                                "data": monthly_data()}, today=late).id


def test_town_clerk_cannot_write_outside_its_town(app, demo):
    with app.app_context(), acting(demo["tenant_ids"]["shishi"], capture_path=f"/350581/{SS_TOWN}/"):
        other_town = next(u for u in unit("350581").children if u.code != SS_TOWN)
        other_village = villages(other_town.code)[0]
        with pytest.raises(ScopeDenied) as err:
            services.create_record(MONTHLY, {"org_unit_id": other_village.id, "period": THIS_MONTH,
                                              "data": monthly_data()})
        assert err.value.message == "无权修改辖区以外的数据"


def test_other_tenant_records_are_not_found(app, demo):
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        village = villages(SS_TOWN)[0]
        rid = services.create_record(MONTHLY, {"org_unit_id": village.id, "period": "2025-07",
                                               "data": monthly_data()}).id
        db.session.commit()
    with app.app_context(), acting(demo["tenant_ids"]["guanling"]):
        with pytest.raises(NotFound):
            services.get_record(MONTHLY, rid)
        with pytest.raises(NotFound):
            services.get_form(MONTHLY)
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        services.delete_record(MONTHLY, rid)
        db.session.commit()


def test_html_and_formula_injection_are_stored_verbatim(app, demo):
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        village = villages(SS_TOWN)[0]
        record = services.create_record("work_record", {"org_unit_id": village.id, "data": {
            "record_date": "2025-03-02", "duty_area": "计划生育", "content": "<script>alert(1)</script>",
            "place": "=cmd|' /C calc'!A0"}})
        assert record.data["content"] == "<script>alert(1)</script>"
        assert record.data["place"] == "=cmd|' /C calc'!A0"
        assert record.data["record_date"] == "2025-03-02" and record.natural_key is None


def test_literal_default_applies_on_create(app, demo):
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        village = villages(SS_TOWN)[0]
        record = services.create_record("work_ledger", {"org_unit_id": village.id, "data": {
            "ledger_no": "2025-001", "entry_date": "2025-03-02", "category": "信息统计", "item": "月报归档"}})
        assert record.data["progress"] == "办理中"
        with pytest.raises(FormValidationError) as err:
            services.create_record("work_ledger", {"org_unit_id": village.id, "data": {
                "ledger_no": "2025-001", "entry_date": "2025-03-09", "category": "信息统计", "item": "又一条"}})
        assert err.value.errors["_form"] == ["已有相同台账编号的记录"]


def test_formula_default_and_rule_runtime_error_on_a_designer_form(app, demo):
    from app.forms.definition import load_form

    form = load_form({"code": "ratio", "name": "比例", "target": "village", "sections": [{"title": "一", "fields": [
        {"code": "a", "label": "甲数", "type": "integer", "required": True},
        {"code": "b", "label": "乙数", "type": "integer", "required": True},
        {"code": "total", "label": "合计", "type": "integer", "default": "=甲数 + 乙数"}]}],
        "rules": [{"check": "甲数 / 乙数 < 10", "message": "甲数不能超过乙数的10倍"}]})
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        row = services.save_definition(form)
        assert row.version == 1 and row.source == "designer"
        assert services.save_definition(form).id == row.id  # unchanged: no new version
        village = villages(SS_TOWN)[0]
        record = services.create_record("ratio", {"org_unit_id": village.id, "data": {"a": 2, "b": 3}})
        assert record.data["total"] == 5
        with pytest.raises(FormValidationError) as err:
            services.create_record("ratio", {"org_unit_id": village.id, "data": {"a": 2, "b": 0}})
        assert err.value.errors["_form"][0].startswith("校验规则「甲数 / 乙数 < 10」无法计算")
        with pytest.raises(FormValidationError) as err:
            services.create_record("ratio", {"org_unit_id": village.id, "data": {"a": 50, "b": 1, "total": 1}})
        assert err.value.errors == {"_form": ["甲数不能超过乙数的10倍"]}
        assert db.session.query(FormRecord).filter_by(form_code="ratio").count() == 1


def test_person_form_is_captured_under_the_persons_village(app, demo):
    from sqlalchemy import select

    from app.staffing.models import Person

    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        person = db.session.scalars(select(Person).where(Person.org_unit_id.is_not(None))).first()
        record = services.create_record("annual_appraisal", {"person_id": person.id, "period": "2025", "data": {
            "summary": "全年完成各项工作", "grade": "优秀"}})
        assert record.org_unit_id == person.org_unit_id and record.natural_key == f"p{person.id}|2025"
        with pytest.raises(FormValidationError) as err:
            services.create_record("annual_appraisal", {"person_id": person.id, "period": "2025-03",
                                                        "data": {"summary": "x", "grade": "良好"}})
        assert err.value.errors["grade"] == ["「良好」不是可选项（可选：优秀、合格、不合格）"]
        assert err.value.errors["period"] == ["期间「2025-03」无效，应为年份，如 2025"]

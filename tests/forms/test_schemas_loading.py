"""Schema and WTForms derivation per field type; tenant folder loading of forms (idempotent, versioned)."""

from __future__ import annotations

import datetime as dt

import pytest
from forms_support import MONTHLY, SS_TOWN, acting, monthly_data, villages
from marshmallow import ValidationError
from sqlalchemy import select

from app.extensions import db
from app.forms import services
from app.forms.definition import load_form
from app.forms.models import FormDefinition, FormRecord
from app.forms.schemas import list_columns, load_data
from app.forms.wtforms_gen import form_class
from app.tenantio.loader import load_tenant_folder
from app.tenantio.problems import TenantFolderInvalid

ALL_TYPES = load_form({"code": "all", "name": "全类型", "target": "village", "sections": [{"title": "一", "fields": [
    {"code": "t", "label": "文本", "type": "text", "required": True, "max_length": 5, "pattern": "[a-z]+"},
    {"code": "ta", "label": "长文本", "type": "textarea"},
    {"code": "i", "label": "整数", "type": "integer", "min": 0, "max": 10},
    {"code": "d", "label": "小数", "type": "decimal", "min": 0.5},
    {"code": "m", "label": "金额", "type": "money", "max": 1000},
    {"code": "dt", "label": "日期", "type": "date"},
    {"code": "c", "label": "单选", "type": "choice", "choices": ["优秀", "合格", "不合格"]},
    {"code": "mc", "label": "多选", "type": "multichoice", "choices": ["甲", "乙"]},
    {"code": "b", "label": "是否", "type": "boolean"},
    {"code": "o", "label": "单位", "type": "org_unit"},
    {"code": "p", "label": "人员", "type": "person"},
    {"code": "a", "label": "附件", "type": "attachment"}]}]})


def _errors(data: dict) -> dict:
    with pytest.raises(ValidationError) as err:
        load_data(ALL_TYPES, None, 1, data)
    return err.value.messages


def test_each_field_type_loads_its_values():
    values = load_data(ALL_TYPES, None, 1, {"t": "abc", "ta": "<b>x</b>", "i": "7", "d": 1.5, "m": "12.30",
                                            "dt": "2025-03-01", "c": "合格", "mc": ["甲"], "b": True, "o": 3,
                                            "p": "4", "a": "a.pdf"})
    assert values["i"] == 7 and values["d"] == 1.5 and values["m"] == 12.3
    assert values["dt"] == dt.date(2025, 3, 1) and values["mc"] == ["甲"] and values["b"] is True
    assert values["o"] == 3 and values["p"] == 4 and values["ta"] == "<b>x</b>"


@pytest.mark.parametrize(("data", "field", "message"), [
    ({}, "t", "必填"),
    ({"t": None}, "t", "必填"),
    ({"t": "abcdef"}, "t", "最多 5 个字"),
    ({"t": "ABC"}, "t", "格式不符合要求"),
    ({"t": "a", "i": "七"}, "i", "应为整数"),
    ({"t": "a", "i": 1.5}, "i", "应为整数"),
    ({"t": "a", "i": 11}, "i", "应在 0 到 10 之间"),
    ({"t": "a", "d": 0.1}, "d", "不能小于 0.5"),
    ({"t": "a", "d": "abc"}, "d", "应为数字"),
    ({"t": "a", "m": 1.234}, "m", "应为金额（最多两位小数）"),
    ({"t": "a", "m": 5000}, "m", "不能大于 1000"),
    ({"t": "a", "dt": "2025-02-30"}, "dt", "应为日期，如 2025-03-31"),
    ({"t": "a", "c": "良好"}, "c", "「良好」不是可选项（可选：优秀、合格、不合格）"),
    ({"t": "a", "mc": ["丙"]}, "mc", "「丙」不是可选项（可选：甲、乙）"),
    ({"t": "a", "mc": "甲"}, "mc", "应为选项列表"),
    ({"t": "a", "b": "也许"}, "b", "应为“是”或“否”"),
    ({"t": "a", "o": "三"}, "o", "应为组织机构编号"),
    ({"t": "a", "zz": 1}, "zz", "未知字段（表单中没有这个字段）"),
])
def test_schema_rejects_with_chinese_messages(data, field, message):
    errors = _errors(data)
    assert any(message in m for m in errors[field]), errors


def test_wtforms_class_has_labels_help_and_widgets(app):
    with app.test_request_context():
        form = form_class(ALL_TYPES, None, 1)(meta={"csrf": False})
        assert form["t"].label.text == "文本" and form["ta"].type == "TextAreaField"
        assert form["c"].type == "SelectField" and form["mc"].type == "SelectMultipleField"
        assert 'type="date"' in form["dt"]() and 'type="number"' in form["i"]()
        assert "org_unit_id" in form and "row_version" in form
        assert form_class(ALL_TYPES, None, 1) is form_class(ALL_TYPES, None, 1)


def test_list_columns_are_place_first_fields_and_status():
    monthly = load_form({"code": "m", "name": "月报", "target": "village", "periodicity": "monthly",
                         "sections": [{"title": "一", "fields": [
                             {"code": f"f{i}", "label": f"字段{i}", "type": "integer"} for i in range(9)]}]})
    columns = [k for k, _ in list_columns(monthly)]
    assert columns == ["org_unit", "period", *[f"data.f{i}" for i in range(6)], "status"]


def test_ss9_loading_the_shishi_folder_twice_creates_no_new_versions(app, demo):
    with app.app_context():
        report = load_tenant_folder("tenants/shishi")
        assert "form_definition" not in report.inserted
        with acting(demo["tenant_ids"]["shishi"]):
            names = {f.form.name for f in services.current_forms()}
            assert {"工作记录本", "工作台账", "聘用审批表", "年度考核表", "人口计划生育信息报告单"} <= names
            assert all(f.version == 1 for f in services.current_forms())


def test_ss8_monthly_report_holds_only_aggregate_counts(app, demo):
    """DOMAIN §9: counts per village and month, no individual women's records."""
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        monthly = services.get_form(MONTHLY).form
        assert monthly.target == "village" and monthly.periodicity == "monthly" and monthly.due_day
        free_text = [f for f in monthly.fields if f.type not in ("integer",)]
        assert [f.code for f in free_text] == ["remarks"]
        assert not any(f.type in ("person", "date") for f in monthly.fields)


def test_a_changed_field_is_version_2_and_old_records_keep_version_1(app, demo, copy_tenant):
    folder = copy_tenant("shishi", "forms_v2")
    with app.app_context():
        tid = load_tenant_folder(folder).tenant_id
        with acting(tid):
            village = villages(SS_TOWN)[0]
            old = services.create_record(MONTHLY, {"org_unit_id": village.id, "period": "2025-03",
                                                   "data": monthly_data()})
            db.session.commit()
            old_id = old.id
        path = folder / "forms" / "monthly_report.yaml"
        path.write_text(path.read_text(encoding="utf-8").replace("label: 户数", "label: 总户数"), encoding="utf-8")
        report = load_tenant_folder(folder)
        assert report.inserted.get("form_definition") == 1
        assert load_tenant_folder(folder).changed is False
        with acting(tid):
            versions = db.session.scalars(select(FormDefinition.version).where(FormDefinition.code == MONTHLY)).all()
            assert sorted(versions) == [1, 2]
            assert db.session.get(FormRecord, old_id).form_version == 1
            assert services.get_form(MONTHLY).form.field_by_code("households").label == "总户数"
            assert services.get_form(MONTHLY, 1).form.field_by_code("households").label == "户数"


def test_a_bad_form_file_is_reported_with_file_and_line(app, copy_tenant):
    folder = copy_tenant("shishi", "forms_bad")
    path = folder / "forms" / "work_record.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("type: date", "type: datum"), encoding="utf-8")
    cfg = folder / "tenant.yaml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("forms/work_ledger.yaml", "../escape.yaml"),
                   encoding="utf-8")
    with app.app_context(), pytest.raises(TenantFolderInvalid) as err:
        load_tenant_folder(folder)
    text = str(err.value)
    assert "forms/work_record.yaml 第" in text and "类型「datum」无效" in text
    assert "必须在租户目录之内" in text

"""Form definitions: parsing, every bad definition reported with its place in Chinese, round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from app.forms.definition import DefinitionError, FormDef, load_form, parse_form

SHISHI_FORMS = Path(__file__).resolve().parents[2] / "tenants" / "shishi" / "forms"


def _form(**over) -> dict:
    form = {"code": "monthly", "name": "月报", "target": "village", "periodicity": "monthly", "due_day": 5,
            "sections": [{"title": "变动", "fields": [
                {"code": "births", "label": "出生人数", "type": "integer", "required": True, "min": 0},
                {"code": "in_policy", "label": "其中政策内出生人数", "type": "integer", "min": 0},
                {"code": "grade", "label": "等次", "type": "choice", "choices": ["优秀", "合格", "不合格"]},
                {"code": "note", "label": "备注", "type": "text", "max_length": 20, "pattern": "^[^@]*$"},
                {"code": "day", "label": "日期", "type": "date"}]}],
            "rules": [{"check": "出生人数 >= 其中政策内出生人数", "message": "政策内不能多于出生"}]}
    form.update(over)
    return form


def _field(**over) -> dict:
    field = {"code": "x", "label": "某值", "type": "integer"}
    field.update(over)
    return _form(sections=[{"title": "一", "fields": [field]}], rules=[])


def _messages(raw) -> list[str]:
    form, problems = parse_form(raw)
    assert form is None and problems
    return [str(p) for p in problems]


def test_a_good_definition_parses_and_round_trips():
    form = load_form(_form())
    assert isinstance(form, FormDef) and form.periodic and form.org_target
    assert [f.code for f in form.fields] == ["births", "in_policy", "grade", "note", "day"]
    assert form.field_by_code("grade").choices == ("优秀", "合格", "不合格")
    assert load_form(form.to_dict()) == form
    assert load_form(form.to_dict()).to_dict() == form.to_dict()


def test_chinese_level_names_are_accepted():
    assert load_form(_form(target="村")).target == "village"
    assert load_form(_form(target="人员", periodicity="yearly", due_day=None)).target == "person"


@pytest.mark.parametrize(("raw", "expected"), [
    (_form(code="1bad"), "表单「1bad」：代码应以字母开头"),
    (_form(name=""), "表单「monthly」：名称必填"),
    (_form(target="province"), "填报对象「province」无效"),
    (_form(periodicity="weekly"), "周期「weekly」无效"),
    (_form(due_day=31), "截止日应为 1–28 的整数（现为「31」）"),
    (_form(periodicity="none"), "只有周期性表单"),
    (_form(lock_after_days=3, due_day=None), "设置了锁定天数，也要设置截止日"),
    (_form(key=["births"]), "周期性表单按单位（或人员）和期间确定唯一"),
    (_form(colour="red"), "未知的键「colour」"),
    (_form(sections=[]), "至少要有一节"),
    (_form(sections=[{"title": "空", "fields": []}]), "第1节「空」：至少要有一个字段"),
    (_form(sections=[{"fields": [{"code": "a", "label": "甲", "type": "text"}]}]), "第1节：标题 title 必填"),
    (_field(type="number"), "第1节「一」字段「x」：类型「number」无效"),
    (_field(code="id"), "字段「id」：代码「id」是保留字"),
    (_field(code="出生"), "代码应以字母或下划线开头"),
    (_field(label=""), "字段「x」：标签 label 必填"),
    (_field(min=10, max=1), "字段「x」：最大值 1 小于最小值 10"),
    (_field(min="零"), "min 应为数字（现为「零」）"),
    (_field(type="text", min=1), "只有数字类字段（整数、小数、金额）才能设置 min"),
    (_field(max_length=10), "只有文本字段才能设置 max_length"),
    (_field(type="text", pattern="(a+)+"), "正则表达式含嵌套的重复"),
    (_field(type="text", pattern="[a-"), "正则表达式无效"),
    (_field(type="text", pattern="a" * 201), "正则表达式太长"),
    (_field(type="choice"), "选择类字段要有选项列表 choices"),
    (_field(type="choice", choices=["甲", "甲"]), "选项重复：甲"),
    (_field(choices=["甲"]), "只有单选、多选字段才能设置 choices"),
    (_field(required="yes"), "required 应为 true 或 false"),
    (_field(default="很多"), "默认值「很多」无效：应为整数"),
    (_field(type="choice", choices=["甲"], default="乙"), "默认值「乙」无效：不在选项中（甲）"),
    (_field(default="=不存在 + 1"), "默认值公式「=不存在 + 1」有误"),
    (_field(type="date", default="=1 + 1"), "默认值公式的结果是数字，字段要的是日期"),
    (_field(type="attachment", default="a.pdf"), "附件字段不能有默认值"),
    (_form(rules=[{"check": "出生人数 >= 人品", "message": "m"}]), "第1条校验规则：公式「出生人数 >= 人品」有误"),
    (_form(rules=[{"check": "出生人数 + 1", "message": "m"}]), "的结果应为是/否，现为数字"),
    (_form(rules=[{"check": "出生人数 > 0"}]), "第1条校验规则：提示 message 必填"),
    (_form(rules=[{"check": "出生人数 > 0", "message": "m", "level": 1}]), "未知的键「level」"),
])
def test_every_bad_definition_is_reported_with_its_place(raw, expected):
    messages = _messages(raw)
    assert any(expected in m for m in messages), messages


def test_duplicate_codes_and_labels_are_reported():
    raw = _form(sections=[{"title": "一", "fields": [{"code": "a", "label": "甲", "type": "text"},
                                                    {"code": "a", "label": "甲", "type": "text"}]}], rules=[])
    messages = _messages(raw)
    assert any("字段代码重复" in m for m in messages) and any("标签「甲」重复" in m for m in messages)


def test_key_fields_must_exist_and_be_required():
    base = dict(periodicity="none", due_day=None, rules=[])
    assert any("key 中的字段「nope」不存在" in m for m in _messages(_form(key=["nope"], **base)))
    assert any("应为必填" in m for m in _messages(_form(key=["grade"], **base)))
    assert load_form(_form(key=["births"], **base)).key == ("births",)


def test_all_problems_are_collected_at_once():
    messages = _messages(_form(code="", target="x", due_day=0, rules=[{"check": "(", "message": "m"}]))
    assert len(messages) >= 4


def test_load_form_raises_with_all_problems():
    with pytest.raises(DefinitionError) as err:
        load_form(_field(type="nope", min="a"))
    assert len(err.value.problems) >= 2 and "表单定义有误" in str(err.value)


def test_ss9_the_four_shishi_forms_and_the_monthly_report_parse():
    forms = {p.stem: load_form(yaml.safe_load(p.read_text(encoding="utf-8"))) for p in SHISHI_FORMS.glob("*.yaml")}
    names = {f.name for f in forms.values()}
    assert {"工作记录本", "工作台账", "聘用审批表", "年度考核表", "人口计划生育信息报告单"} <= names
    appraisal = next(f for f in forms.values() if f.name == "年度考核表")
    assert appraisal.target == "person" and appraisal.periodicity == "yearly"
    assert next(f for f in appraisal.fields if f.label == "考核等次").choices == ("优秀", "合格", "不合格")
    assert next(f for f in forms.values() if f.name == "聘用审批表").target == "person"


def test_equal_definitions_hash_equal_and_survive_pickling_with_their_hash():
    import pickle

    from app.forms import definition_model

    a, b = load_form(_form()), load_form(_form())
    assert a is not b and a == b and hash(a) == hash(b) and {a: 1}[b] == 1
    assert hash(load_form(_form(name="另一个"))) != hash(a)
    copy = pickle.loads(pickle.dumps(a))
    assert copy == a and hash(copy) == hash(a) and copy.field_by_code("births").min == 0
    assert FormDef is definition_model.FormDef  # the usual import path still names the same type

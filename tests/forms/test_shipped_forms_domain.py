"""The shipped forms say what the source documents say (SS-2, SS-3, SS-7, SS-8, SS-9, XS-1, XS-5, DOMAIN §9).

Why these tests: the county forms and the village pack were first written from a summary; these
checks pin the points where the documents themselves decide — the opinion and signature boxes of the
appointment approval form, the three-year term counted from the city's approval, the annual (term)
appraisal with remarks and an extra sheet for the summary, the monthly report's counts and their
cross-field rules, the meeting minutes' convener and attendees, and the nine village ledgers.
Forms are read as the tenant loader stored them (the demo counties), not parsed from the YAML here.
"""

from __future__ import annotations

from typing import Any

import pytest
from forms_support import MONTHLY, SS_TOWN, acting, monthly_data, villages
from sqlalchemy import select

from app.extensions import db
from app.forms import services
from app.forms.definition import FieldDef, FormDef
from app.forms.services import FormValidationError
from app.staffing.models import Person
from app.tenantio.loader import load_tenant_folder

SEED_OPINIONS = ("村（居）委会推荐意见", "镇（街道）卫生计生办意见", "劳动保障服务中心意见",
                 "镇人民政府（街道办事处）审核意见", "市卫健局审批意见", "市人社局审批意见", "市计生协会审批意见")
"""Attachment 3's path: village recommends, town FP office and labour centre give opinions, town
government reviews, and each of the three city departments approves."""


def _form(app: Any, demo: dict[str, Any], county: str, code: str) -> FormDef:
    with app.app_context(), acting(demo["tenant_ids"][county]):
        return services.get_form(code).form


def _field(form: FormDef, code: str) -> FieldDef:
    found = [f for f in form.fields if f.code == code]
    assert found, f"{form.code} has no field {code}"
    return found[0]


def _errors(code: str, payload: dict[str, Any]) -> list[str]:
    """The record-level messages a create gets (nothing is written: the scope rolls back)."""
    try:
        services.create_record(code, payload)
    except FormValidationError as err:
        return list(err.errors.get("_form", [])) or [f"{k}: {v}" for k, v in err.errors.items()]
    return []


def _shishi_person() -> Person:
    person = db.session.scalar(select(Person).where(Person.org_unit_id.is_not(None)).order_by(Person.id))
    assert person is not None
    return person


# --- SS-8: the monthly 人口计划生育信息报告单 -------------------------------------------------------


def test_ss8_monthly_report_is_a_village_monthly_form_of_counts_only(app, demo):
    form = _form(app, demo, "shishi", MONTHLY)
    assert form.name == "人口计划生育信息报告单"
    assert form.target == "village" and form.periodicity == "monthly"
    for f in form.fields:
        if f.code == "remarks":
            continue
        assert f.type == "integer" and f.min == 0, f.code  # DOMAIN §9: counts, never a person or a date of one
    labels = {f.label for f in form.fields}
    assert {"户籍人口", "计生常住人口", "流入人口", "已婚育龄妇女数", "出生人数", "其中政策内出生人数",
            "死亡人数", "避孕药具发放人次", "避孕药具随访人次", "术后随访人次", "奖励扶助对象人数",
            "流动人口信息采集人数"} <= labels
    assert {f.code for f in form.fields if f.required} >= {"registered_pop", "resident_pop", "births",
                                                          "births_in_policy", "deaths"}


@pytest.mark.parametrize("over,message", [
    ({"births": 2, "births_in_policy": 3}, "其中政策内出生人数不能大于出生人数"),
    ({"births": 4, "births_male": 3, "births_female": 2}, "男孩、女孩人数之和应等于出生人数"),
    ({"births": 4, "births_male": 5}, "其中男孩人数不能大于出生人数"),
    ({"births": 4, "births_female": 6}, "其中女孩人数不能大于出生人数"),
    ({"resident_pop": 500, "married_women": 600}, "已婚育龄妇女数不能大于计生常住人口"),
])
def test_ss8_monthly_report_cross_field_rules(app, demo, over, message):
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        village = villages(SS_TOWN)[0]
        payload = {"org_unit_id": village.id, "period": "2025-02", "data": monthly_data(**over)}
        assert message in _errors(MONTHLY, payload)
        fine = {"org_unit_id": village.id, "period": "2025-02",
                "data": monthly_data(births=4, births_male=3, births_female=1)}
        assert _errors(MONTHLY, fine) == []


def test_ss8_work_record_offers_every_duty_of_the_seed(app, demo):
    duty = _field(_form(app, demo, "shishi", "work_record"), "duty_area")
    assert duty.required
    # the eight numbered duties, including those the first version missed (publicity and training,
    # disease control, maternal and child health with the service room)
    assert {"卫生健康", "计划生育", "人口监测与家庭发展", "应对人口老龄化", "职业卫生", "基本公共卫生服务",
            "计生协会工作", "就业和社会保障", "政策宣传和业务培训", "疾病防控、爱国卫生和卫生应急",
            "妇幼健康和计划生育服务室"} <= set(duty.choices)


# --- SS-9 attachment 3: 聘用审批表 (with SS-2 and SS-3) --------------------------------------------


def test_ss9_hire_approval_carries_the_opinion_and_signature_boxes_of_attachment_3(app, demo):
    form = _form(app, demo, "shishi", "hire_approval")
    assert form.target == "person"
    labels = [f.label for f in form.fields]
    for opinion in SEED_OPINIONS:
        assert opinion in labels, opinion
    # a seal box for the town's review and one per approving city department: SS-3's term runs from
    # the approval of all three (before, one box stood for the three departments together)
    assert form.signatures == ("镇人民政府意见", "市卫健局意见", "市人社局意见", "市计生协会意见")
    # the form is filled only for candidates without objection (or whose objection does not matter)
    assert set(_field(form, "notice_result").choices) == {"无异议", "有异议经核实不影响聘用"}
    assert _field(form, "approved_on").type == "date"


def test_ss2_hire_approval_lists_the_unquantified_conditions_as_a_checklist(app, demo):
    form = _form(app, demo, "shishi", "hire_approval")
    conditions = _field(form, "conditions")
    assert conditions.type == "multichoice"
    assert {"拥护党的路线、方针和政策", "遵纪守法", "工作责任心强、办事公道正派",
            "在群众中有较高威信"} <= set(conditions.choices)
    assert _field(form, "local_resident").type == "boolean"


def _hire(person: Person, **data: Any) -> dict[str, Any]:
    base = {"education": "初中", "village": person.org_unit_id, "term_start": "2026-01-01", "term_end": "2028-12-31"}
    return {"person_id": person.id, "data": {**base, **data}}


@pytest.mark.parametrize("data,message", [
    ({"education": "小学"}, "选聘对象应具有初中以上文化程度（SS-2）"),
    ({"local_resident": False}, "选聘对象应为本村（社区）的村（居）民（SS-2）"),
    ({"term_end": "2029-01-01"}, "每届聘期为三年（SS-3）：聘期止不能晚于聘期起满三年的前一天"),
    ({"approved_on": "2025-12-20"},
     "聘期自市卫健局、市人社局和市计生协会审批之日起计算（SS-3），聘期起应为市级审批日期"),
    ({"notice_from": "2025-12-10", "notice_to": "2025-12-09"}, "公示结束日期不能早于公示开始日期（公示期7天）"),
    ({"notice_from": "2025-12-25", "notice_to": "2026-01-01", "approved_on": "2026-01-01"},
     "公示期满后才能报市卫健局、市人社局和市计生协会审批"),
])
def test_ss3_hire_approval_rules(app, demo, data, message):
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        person = _shishi_person()
        assert message in _errors("hire_approval", _hire(person, **data))


def test_ss3_a_three_year_term_from_the_city_approval_is_accepted(app, demo):
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        person = _shishi_person()
        payload = _hire(person, local_resident=True, notice_from="2025-12-10", notice_to="2025-12-16",
                        notice_result="无异议", approved_on="2026-01-01", hire_kind="换届选聘",
                        conditions=["遵纪守法", "在群众中有较高威信"])
        assert _errors("hire_approval", payload) == []
        # a mid-term filler ends with the batch: a shorter term is fine
        assert _errors("hire_approval", _hire(person, hire_kind="聘期内岗位空缺增补", term_start="2027-03-01",
                                              term_end="2028-12-31")) == []


# --- SS-9 attachment 4 / SS-7: 年度（聘期）考核表 ------------------------------------------------------


def test_ss9_annual_appraisal_is_the_annual_or_term_form_of_attachment_4(app, demo):
    form = _form(app, demo, "shishi", "annual_appraisal")
    assert form.name == "年度考核表" and form.target == "person" and form.periodicity == "yearly"
    assert _field(form, "kind").choices == ("年度考核", "聘期考核")
    assert _field(form, "grade").choices == ("优秀", "合格", "不合格") and _field(form, "grade").required
    assert _field(form, "summary").required
    assert "奖励、处分" in (_field(form, "remarks").help or "")  # the note under attachment 4
    assert _field(form, "summary_sheet").type == "attachment"  # "个人总结栏不够填写，可另附纸张"
    # initial appraisal by the town, re-check by the three city departments together
    assert {"本人签名", "镇人民政府意见", "市卫健局意见", "市人社局意见", "市计生协会意见"} <= set(form.signatures)
    assert "市卫健局、市人社局、市计生协会复检意见" in {f.label for f in form.fields}


def test_ss7_last_place_elimination_means_dismissal(app, demo):
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        person = _shishi_person()
        payload = {"person_id": person.id, "period": "2024",
                   "data": {"summary": "全年工作", "grade": "合格", "last_place": True}}
        assert "年度考评末位淘汰的，应确定为解聘对象" in _errors("annual_appraisal", payload)
        payload["data"]["to_dismiss"] = True
        assert _errors("annual_appraisal", payload) == []


# --- XS-1 / XS-5: the village pack as the demo county loaded it -----------------------------------


def test_xs1_minutes_name_the_convener_attendees_report_and_two_copies(app, demo):
    form = _form(app, demo, "guanling", "XS_LH")
    assert form.periodicity == "monthly"
    assert _field(form, "convener_role").choices == ("村党支部书记", "村委会主任")
    assert set(_field(form, "attendee_roles").choices) == {"村支两委成员", "村计生专职主任（专干）",
                                                          "计生协会会长或秘书长", "育龄妇女小组长"}
    assert _field(form, "last_month").label == "上月工作责任目标落实情况"
    assert _field(form, "this_month").label == "下个月工作任务计划"
    assert _field(form, "copy_to_town").required and _field(form, "copy_archived").type == "boolean"


def test_xs5_ledger_of_needs_information_loads_from_the_pack_and_checks_its_counts(app, copy_tenant):
    folder = copy_tenant("guanling", "gl_xs5")  # the county uses all nine XS-5 ledgers of the pack
    assert "  - template: village_standard.ledger_needs\n" in (folder / "tenant.yaml").read_text(encoding="utf-8")
    with app.app_context():
        report = load_tenant_folder(folder)
        with acting(report.tenant_id):
            form = services.get_form("XS_XQ").form
            assert form.name == "需求信息收集分析使用台账" and form.target == "village"
            assert all(f.type in ("integer", "textarea") for f in form.fields)  # DOMAIN §9
            from app.orgs.models import OrgUnit

            village = db.session.scalar(select(OrgUnit).where(OrgUnit.level == "village").order_by(OrgUnit.code))
            payload = {"org_unit_id": village.id, "period": "2025-03",
                       "data": {"collected": 5, "analysed": 6, "used": 1}}
            assert "已分析条数不能超过收集的需求信息条数" in _errors("XS_XQ", payload)
            payload["data"]["analysed"] = 4
            assert _errors("XS_XQ", payload) == []


def test_xs5_guanling_ledgers_keep_counts_not_people(app, demo):
    """DOMAIN §9 over the monitoring and follow-up ledgers: counts of people, no person or name field."""
    for code in ("XS_YF", "XS_HY", "XS_SF"):
        form = _form(app, demo, "guanling", code)
        assert all(f.type == "integer" and f.min == 0 for f in form.fields), code
        assert not any("姓名" in f.label or "身份证" in f.label for f in form.fields), code

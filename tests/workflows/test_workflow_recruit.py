"""County recruitment rules run by the engine from YAML: SS-2..SS-5 (Shishi), GL-2/GL-3 (Guanling).

Every test makes its own people (ID numbers fix their birth dates) so ages on a deadline are exact.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time

import pytest
from sqlalchemy import select, update
from wf_support import as_user, id_number, org_id

from app.core.errors import ScopeDenied
from app.extensions import db
from app.staffing.models import Appointment, Person
from app.staffing.quota_models import StaffingQuota
from app.workflows import services
from app.workflows.models import WorkflowInstance
from app.workflows.services import WorkflowError
from app.workflows.timers import fire_due
from support import is_postgres, login

SS_VILLAGE = "350581001001"  # the demo village clerk's village
GL_VILLAGE = "520424001001"
def make_person(made: list[int], admin: str, village: str, birth: str, education: str = "初中",
                name: str = "测试人") -> int:
    region = village[:6]
    from app.orgs.models import OrgUnit

    with as_user(admin):
        unit = db.session.scalar(select(OrgUnit).where(OrgUnit.code == village))
        person = Person(name=name, id_number=id_number(birth, region=region), education=education,
                        org_unit=unit)
        db.session.add(person)
        db.session.commit()
        made.append(person.id)
        return person.id


def start(username: str, code: str, person_id: int, **data) -> int:
    with as_user(username) as actor:
        return services.start(code, actor=actor, person_id=person_id, data=data).id


def act(username: str, inst_id: int, action: str, **kw) -> str:
    with as_user(username) as actor:
        return services.act(inst_id, action, actor=actor, **kw).instance.state


def refused(username: str, inst_id: int, action: str, **kw) -> str:
    with pytest.raises(WorkflowError) as info:
        act(username, inst_id, action, **kw)
    return info.value.message


def state(inst_id: int) -> str:
    with as_user("ss_admin"):
        return db.session.get(WorkflowInstance, inst_id).state


# -- Shishi ------------------------------------------------------------------------------------

def test_ss5_posts_plus_one_candidates_per_round(app, people):
    with app.app_context():
        ids = [make_person(people, "ss_admin", SS_VILLAGE, "19850101", name=f"候选{i}") for i in range(4)]
        cases = [start("ss_village", "recruitment", pid, position_code="XGY", posts=1) for pid in ids]
        assert act("ss_village", cases[0], "recommend") == "town_opinions"
        assert act("ss_village", cases[1], "recommend") == "town_opinions"
        message = refused("ss_village", cases[2], "recommend")  # 1 post: at most 2 candidates (差额1人)
        assert "岗位 1 个，最多推荐 2 名候选人（差额1人），已推荐 2 名" in message
        assert state(cases[2]) == "recommended"
        # a candidate the county turns down no longer counts: the village may recommend another
        act("ss_admin", cases[0], "reject", comment="不符合群众公认条件")
        assert act("ss_village", cases[2], "recommend") == "town_opinions"
        assert "已推荐 2 名" in refused("ss_village", cases[3], "recommend")


def test_ss5_posts_come_from_the_staffing_vacancies(app, people):
    with app.app_context():
        with as_user("ss_admin"):
            unit_id = org_id(SS_VILLAGE)
            quota = db.session.scalars(select(StaffingQuota).where(StaffingQuota.org_unit_id == unit_id)
                                       .order_by(StaffingQuota.period.desc())).first()
            assert quota is not None
            saved = (quota.id, quota.vacant)
            db.session.execute(update(StaffingQuota).where(StaffingQuota.id == quota.id).values(vacant=2))
            db.session.commit()
        try:
            ids = [make_person(people, "ss_admin", SS_VILLAGE, "19800101") for _ in range(4)]
            cases = [start("ss_village", "recruitment", pid, position_code="XGY") for pid in ids]
            for inst_id in cases[:3]:  # 2 vacancies: 3 candidates
                assert act("ss_village", inst_id, "recommend") == "town_opinions"
            assert "岗位 2 个，最多推荐 3 名" in refused("ss_village", cases[3], "recommend")
            with as_user("ss_admin"):
                db.session.execute(update(StaffingQuota).where(StaffingQuota.id == saved[0]).values(vacant=0))
                db.session.commit()
            assert "没有空缺岗位" in refused("ss_village", cases[3], "recommend")
        finally:
            with as_user("ss_admin"):
                db.session.execute(update(StaffingQuota).where(StaffingQuota.id == saved[0]).values(vacant=saved[1]))
                db.session.commit()


def test_ss2_age_25_to_55_on_the_deadline_and_junior_middle_school(app, people):
    with app.app_context():
        born = make_person(people, "ss_admin", SS_VILLAGE, "19700630", name="张五十五")
        low = make_person(people, "ss_admin", SS_VILLAGE, "19900101", education="小学", name="李小学")
        inst = start("ss_village", "recruitment", born, position_code="XGY", posts=1, reference_date="2025-06-30")
        inst2 = start("ss_village", "recruitment", low, position_code="XGY", posts=1, reference_date="2025-06-30")
        # 55 on the deadline is still eligible; one day later the same person is 55 too, 56 a year on
        message = refused("ss_village", inst, "recommend", data={"reference_date": "2026-06-30"})
        assert "张五十五不满足岗位「村级计生社保协管员」的资格条件" in message
        assert "截至 2026-06-30：年龄=56，学历=初中" in message
        assert act("ss_village", inst, "recommend", data={"reference_date": "2025-06-30"}) == "town_opinions"
        message = refused("ss_village", inst2, "recommend")
        assert "李小学不满足" in message and "学历=小学" in message
        assert state(inst2) == "recommended"


def test_ss4_rehire_ban_three_years_from_dismissal_with_every_reason(app, people):
    with app.app_context():
        pid = make_person(people, "ss_admin", SS_VILLAGE, "19600101", name="王解聘")
        with as_user("ss_admin"):
            person = db.session.get(Person, pid)
            db.session.add(Appointment(person=person, position_code="XGY", org_unit=person.org_unit,
                                       start_date=dt.date(2020, 1, 1), end_date=dt.date(2023, 3, 31),
                                       status="dismissed"))
            db.session.commit()
        inst = start("ss_village", "recruitment", pid, position_code="XGY", posts=1)
        message = refused("ss_village", inst, "recommend", data={"reference_date": "2026-03-30"})
        assert "王解聘于 2023-03-31 被解聘，3 年内不得再聘（2026-03-31 起方可）" in message
        assert "年龄=66" in message  # both reasons at once
        pid2 = make_person(people, "ss_admin", SS_VILLAGE, "19800101", name="赵期满")
        with as_user("ss_admin"):
            person = db.session.get(Person, pid2)
            db.session.add(Appointment(person=person, position_code="XGY", org_unit=person.org_unit,
                                       start_date=dt.date(2020, 1, 1), end_date=dt.date(2023, 3, 31),
                                       status="dismissed"))
            db.session.commit()
        inst2 = start("ss_village", "recruitment", pid2, position_code="XGY", posts=1)
        assert "不得再聘" in refused("ss_village", inst2, "recommend", data={"reference_date": "2026-03-30"})
        assert act("ss_village", inst2, "recommend", data={"reference_date": "2026-03-31"}) == "town_opinions"


TOWN_PARTIES = ("卫生计生办", "劳动保障服务中心")
CITY_PARTIES = ("卫健局", "人社局", "计生协会")


def to_publicity(inst_id: int) -> None:
    """SS-5 up to the 7-day 公示: recommended, both town offices' opinions, the town government, the city."""
    assert act("ss_village", inst_id, "recommend") == "town_opinions"
    for party in TOWN_PARTIES:
        act("ss_town", inst_id, "town_opinion", party=party)
    assert act("ss_town", inst_id, "town_pass") == "county_review"
    act("ss_admin", inst_id, "county_approve", party="人社局")
    assert act("ss_admin", inst_id, "county_approve", party="计生协会") == "publicity"


def after_publicity(inst_id: int) -> str:
    """SS-5 from the approval form (附件3) to hiring: labour centre, town review, the three city departments."""
    assert act("ss_town", inst_id, "fill_form") == "labour_center"
    assert act("ss_town", inst_id, "labour_opinion") == "town_final"
    assert act("ss_town", inst_id, "town_approve") == "city_approval"
    for party in CITY_PARTIES:
        last = act("ss_admin", inst_id, "hire", party=party)
    return last


def _hire(inst_id: int) -> None:
    to_publicity(inst_id)
    act("ss_admin", inst_id, "publicity_passed")
    assert after_publicity(inst_id) == "hired"


def _appointment_of(pid: int) -> Appointment:
    with as_user("ss_admin"):
        appt = db.session.scalars(select(Appointment).where(Appointment.person_id == pid,
                                                            Appointment.status == "active")).one()
        db.session.expunge(appt)
        return appt


def test_ss3_three_year_term_and_a_mid_term_filler_ends_with_the_batch(app, people):
    with app.app_context():
        first = make_person(people, "ss_admin", SS_VILLAGE, "19850101", name="整届")
        inst = start("ss_village", "recruitment", first, position_code="XGY", posts=1)
        _hire(inst)
        appt = _appointment_of(first)
        today = dt.date.today()
        assert appt.start_date == today
        full_end = today.replace(year=today.year + 3) - dt.timedelta(days=1)
        assert appt.end_date == full_end  # SS-3: 3 years from approval
        # the batch already serving ends earlier: a filler hired now ends with it
        with as_user("ss_admin"):
            db.session.execute(update(Appointment).where(Appointment.id == appt.id).values(
                end_date=today + dt.timedelta(days=400)))
            db.session.commit()
        filler = make_person(people, "ss_admin", SS_VILLAGE, "19860101", name="补缺")
        inst2 = start("ss_village", "recruitment", filler, position_code="XGY", posts=1, reference_date="2025-01-01")
        _hire(inst2)
        assert _appointment_of(filler).end_date == today + dt.timedelta(days=400)


def test_ss5_town_opinions_need_both_health_office_and_labour_centre(app, people):
    with app.app_context():
        inst = start("ss_village", "recruitment", make_person(people, "ss_admin", SS_VILLAGE, "19850101"),
                     position_code="XGY", posts=1)
        assert act("ss_village", inst, "recommend") == "town_opinions"
        assert "不能执行「镇审核通过」" in refused("ss_town", inst, "town_pass")  # not before both opinions
        assert act("ss_town", inst, "town_opinion", party="卫生计生办") == "town_opinions"
        assert "不能执行" in refused("ss_town", inst, "town_pass")
        assert "需选择会签单位：卫生计生办、劳动保障服务中心" in \
            refused("ss_town", inst, "town_opinion", party="人社局")
        assert act("ss_town", inst, "town_opinion", party="劳动保障服务中心") == "town_review"
        with as_user("ss_admin"):
            step = services.history(inst)[-1]
            assert (step.action, step.from_state, step.to_state) == ("town_opinion", "town_opinions", "town_review")
            assert "卫生计生办：同意" in step.comment and "劳动保障服务中心：同意" in step.comment
        assert act("ss_town", inst, "town_pass") == "county_review"


def test_ss5_town_opinion_against_holds_the_case_and_the_town_returns_it(app, people):
    with app.app_context():
        inst = start("ss_village", "recruitment", make_person(people, "ss_admin", SS_VILLAGE, "19850101"),
                     position_code="XGY", posts=1)
        act("ss_village", inst, "recommend")
        act("ss_town", inst, "town_opinion", party="卫生计生办")
        assert act("ss_town", inst, "town_opinion", party="劳动保障服务中心", decision="reject",
                   comment="社保业务不熟") == "town_opinions"
        assert "退回理由" in refused("ss_town", inst, "town_return")
        assert act("ss_town", inst, "town_return", comment="劳动保障服务中心不同意") == "recommended"


def test_ss5_town_offices_give_their_opinions_in_bulk(app, people):
    with app.app_context():
        ids = [make_person(people, "ss_admin", SS_VILLAGE, "19850101", name=f"批量{i}") for i in range(2)]
        cases = [start("ss_village", "recruitment", pid, position_code="XGY", posts=1) for pid in ids]
        for inst_id in cases:
            act("ss_village", inst_id, "recommend")
        with as_user("ss_town") as town:
            first = services.bulk_act("recruitment", org_id(SS_VILLAGE), "town_opinion", actor=town, party="卫生计生办")
            again = services.bulk_act("recruitment", org_id(SS_VILLAGE), "town_opinion", actor=town, party="卫生计生办")
            last = services.bulk_act("recruitment", org_id(SS_VILLAGE), "town_opinion", actor=town,
                                     party="劳动保障服务中心")
        assert (first.voted, first.moved) == (2, 0) and (again.voted, again.skipped_voted) == (0, 2)
        assert (last.voted, last.moved) == (2, 2) and {state(i) for i in cases} == {"town_review"}
        with as_user("ss_admin") as admin:  # fixing candidates is checked one by one (posts), never in bulk
            with pytest.raises(WorkflowError, match="逐人核对"):
                services.bulk_act("recruitment", org_id(SS_VILLAGE), "county_approve", actor=admin, party="人社局")


def test_ss5_city_fixes_candidates_to_posts(app, people):
    with app.app_context():
        ids = [make_person(people, "ss_admin", SS_VILLAGE, "19850101", name=f"确定{i}") for i in range(2)]
        cases = [start("ss_village", "recruitment", pid, position_code="XGY", posts=1) for pid in ids]
        to_publicity(cases[0])  # 1 post, 2 recommended (差额1人): the city fixes one of them
        act("ss_village", cases[1], "recommend")
        for party in TOWN_PARTIES:
            act("ss_town", cases[1], "town_opinion", party=party)
        act("ss_town", cases[1], "town_pass")
        assert act("ss_admin", cases[1], "county_approve", party="人社局") == "county_review"  # an opinion only
        message = refused("ss_admin", cases[1], "county_approve", party="计生协会")
        assert "岗位 1 个，「会签审定」确定的候选人不能超过 1 名，已确定 1 名" in message
        with as_user("ss_admin"):
            assert services.votes_of(services.get_instance(cases[1])) == {"人社局": "approve"}  # nothing changed
        # the fixed candidate falls out at the 公示: the city may fix the other one
        act("ss_admin", cases[0], "objection", comment="公示期间反映问题属实")
        assert act("ss_admin", cases[1], "county_approve", party="计生协会") == "publicity"


def test_ss5_three_city_departments_approve_hire(app, people):
    with app.app_context():
        pid = make_person(people, "ss_admin", SS_VILLAGE, "19850101", name="三家审批")
        inst = start("ss_village", "recruitment", pid, position_code="XGY", posts=1)
        to_publicity(inst)
        act("ss_admin", inst, "publicity_passed")
        assert act("ss_town", inst, "fill_form") == "labour_center"
        assert "不能执行" in refused("ss_town", inst, "town_approve")  # the labour centre's opinion comes first
        assert act("ss_town", inst, "labour_opinion") == "town_final"
        assert act("ss_town", inst, "town_approve") == "city_approval"
        with pytest.raises(ScopeDenied):  # the city departments approve, not the town
            act("ss_town", inst, "hire", party="卫健局")
        assert act("ss_admin", inst, "hire", party="卫健局") == "city_approval"
        assert act("ss_admin", inst, "hire", party="人社局") == "city_approval"
        with as_user("ss_admin"):
            assert db.session.scalars(select(Appointment).where(Appointment.person_id == pid)).all() == []
        assert act("ss_admin", inst, "hire", party="计生协会") == "hired"
        appt = _appointment_of(pid)
        assert appt.start_date == dt.date.today()  # SS-3: the term runs from the three departments' approval
        with as_user("ss_admin"):
            step = services.history(inst)[-1]
            assert all(f"{p}：同意" in step.comment for p in CITY_PARTIES)


def test_ss5_over_http_posts_plus_one_and_eligibility_refused_with_reasons(app, people):
    with app.app_context():
        ok = [make_person(people, "ss_admin", SS_VILLAGE, "19850101", name=f"网{i}") for i in range(3)]
        old = make_person(people, "ss_admin", SS_VILLAGE, "19500101", name="网老")
        with as_user("ss_admin"):
            numbers = {pid: db.session.get(Person, pid).id_number for pid in [*ok, old]}
    village = login(app.test_client(), "ss_village")

    def start_http(pid: int) -> int:
        resp = village.post("/workflows/start", data={"code": "recruitment", "id_number": numbers[pid],
                                                      "data_position_code": "XGY", "data_posts": "1"})
        assert resp.status_code == 302, resp.get_data(as_text=True)
        return int(re.search(r"/case/(\d+)", resp.headers["Location"]).group(1))

    cases = [start_http(pid) for pid in [*ok, old]]
    for inst_id in cases[:2]:
        assert village.post(f"/workflows/case/{inst_id}/act", data={"action": "recommend"}).status_code == 302
    for inst_id, expected in ((cases[2], "最多推荐 2 名候选人"), (cases[3], "网老不满足岗位")):
        resp = village.post(f"/workflows/case/{inst_id}/act", data={"action": "recommend"}, follow_redirects=True)
        assert expected in resp.get_data(as_text=True)
        with app.app_context():
            assert state(inst_id) == "recommended"


def test_ss5_bulk_cannot_skip_the_candidate_checks(app, people):
    with app.app_context():
        with as_user("ss_village") as village:
            with pytest.raises(WorkflowError) as info:
                services.bulk_act("recruitment", org_id(SS_VILLAGE), "recommend", actor=village)
        assert "逐人核对" in info.value.message


# -- Guanling ----------------------------------------------------------------------------------

def test_gl2_registration_eligibility_exam_ranking_and_hiring_by_the_town(app, people):
    with app.app_context():
        a = make_person(people, "gl_admin", GL_VILLAGE, "19950101", education="中专", name="甲")
        b = make_person(people, "gl_admin", GL_VILLAGE, "19900101", education="高中", name="乙")
        over = make_person(people, "gl_admin", GL_VILLAGE, "19800101", education="高中", name="丙")
        junior = make_person(people, "gl_admin", GL_VILLAGE, "19950101", education="初中", name="丁")
        ref = {"position_code": "RKZR", "posts": 1, "reference_date": "2025-03-01"}
        cases = {pid: start("gl_town", "hiring", pid, **ref) for pid in (a, b, over, junior)}
        for inst_id in cases.values():
            assert act("gl_town", inst_id, "submit") == "eligibility"
        assert "丙不满足岗位「村级人口主任」" in refused("gl_town", cases[over], "qualify")  # 45 > 40
        assert "学历=初中" in refused("gl_town", cases[junior], "qualify")
        assert act("gl_town", cases[a], "qualify") == "exam"  # 中专 counts as 高中
        assert act("gl_town", cases[b], "qualify") == "exam"
        assert "笔试成绩" in refused("gl_town", cases[a], "score", data={"exam_score": 120})
        act("gl_town", cases[a], "score", data={"exam_score": 85})
        act("gl_town", cases[b], "score", data={"exam_score": 91.5})
        assert "笔试成绩 85 在本轮 2 名考生中排第 2 名，岗位 1 个，只能聘用前 1 名" in \
            refused("gl_town", cases[a], "hire")
        assert act("gl_town", cases[b], "hire") == "hired"
        with as_user("gl_admin"):
            appt = db.session.scalars(select(Appointment).where(Appointment.person_id == b)).one()
            assert appt.position_code == "RKZR"
            assert appt.end_date == appt.start_date.replace(year=appt.start_date.year + 3) - dt.timedelta(days=1)


def test_gl3_vacancy_needs_an_acting_person_and_escalates_after_two_months(app, wf):
    with app.app_context():
        with as_user("gl_town") as town:
            unit = org_id(GL_VILLAGE)
            with pytest.raises(WorkflowError) as info:
                services.start("vacancy", actor=town, org_unit_id=unit, data={"position_code": "RKZR"})
            assert "发起时必须填写：代理人员" in info.value.message
            inst = services.start("vacancy", actor=town, org_unit_id=unit, now=dt.datetime(2025, 12, 31, 9, 0),
                                  data={"position_code": "RKZR", "acting_person": "罗代理"})
            inst_id = inst.id
            assert inst.due_at == dt.datetime(2026, 2, 28, 9, 0)  # 2 calendar months, clamped to February
        with as_user("gl_admin"):
            assert fire_due(dt.datetime(2026, 2, 28, 8, 59)).escalated == 0
            assert fire_due(dt.datetime(2026, 2, 28, 9, 0)).escalated == 1
            assert fire_due(dt.datetime(2026, 3, 5)).escalated == 0  # once only
            inst = db.session.get(WorkflowInstance, inst_id)
            assert inst.overdue and inst.state == "acting"
        with as_user("gl_town") as town:
            with pytest.raises(WorkflowError):
                services.act(inst_id, "refill", actor=town)
            assert services.act(inst_id, "refill", actor=town, data={"new_person": "韦新"}).instance.state == "refilled"
            assert db.session.get(WorkflowInstance, inst_id).overdue is False


def test_gl3_timer_months_are_calendar_months():
    from app.workflows.definition import Timer

    timer = Timer("escalate", duration_months=2)
    assert timer.due_at(dt.datetime(2025, 1, 15, 8), 2025) == dt.datetime(2025, 3, 15, 8)
    assert timer.due_at(dt.datetime(2023, 12, 31), 2023) == dt.datetime(2024, 2, 29)
    assert timer.due_at(dt.datetime(2025, 11, 30), 2025) == dt.datetime(2026, 1, 30)


def test_rules_are_validated_with_their_place(app):
    from app.workflows.definition import DefinitionInvalid, parse_definition

    spec = {"code": "r", "name": "r",
            "states": [{"code": "a", "label": "A"}, {"code": "b", "label": "B", "final": True}],
            "fields": [{"code": "score", "label": "分", "type": "number"}],
            "transitions": [{"action": "go", "label": "走", "from": "a", "to": "b", "who": {"level": "town"}}],
            "rules": {"candidates": {"max": "岗位数 +", "max_after": "岗位数"}, "check_at": "nope", "term_end": "never",
                      "ranking": {"by": "score", "action": "fly"}, "required": ["missing"], "typo": 1}}
    with pytest.raises(DefinitionInvalid) as info:
        parse_definition(spec)
    text = " ".join(info.value.problems)
    for where in ("rules.candidates.max", "rules.candidates.max_after", "rules.check_at", "rules.term_end",
                  "rules.ranking", "rules.required",
                  "rules.typo"):
        assert where in text, where


def test_gl2_round_page_shows_posts_stages_and_ranking_and_is_isolated(app, people):
    with app.app_context():
        a = make_person(people, "gl_admin", GL_VILLAGE, "19950101", education="高中", name="轮甲")
        b = make_person(people, "gl_admin", GL_VILLAGE, "19950101", education="高中", name="轮乙")
        ref = {"position_code": "RKZR", "posts": 1}
        cases = [start("gl_town", "hiring", pid, **ref) for pid in (a, b)]
        for inst_id, score in zip(cases, (70, 88), strict=True):
            act("gl_town", inst_id, "submit")
            act("gl_town", inst_id, "qualify")
            act("gl_town", inst_id, "score", data={"exam_score": score})
        year = dt.date.today().year
    url = f"/workflows/round/?code=hiring&org={GL_VILLAGE}&position=RKZR&year={year}"
    page = login(app.test_client(), "gl_town").get(url).get_data(as_text=True)
    assert "轮甲" in page and "轮乙" in page and "笔试成绩" in page
    ranks = re.findall(r'<td class="cd-rank">(\d*)</td>', page)
    assert ranks == ["2", "1"]  # 70 is second, 88 first
    ss = login(app.test_client(), "ss_admin")
    assert ss.get(url).status_code == 404  # Guanling's village does not exist for Shishi
    assert "轮甲" not in ss.get(f"/workflows/round/?code=recruitment&org={SS_VILLAGE}&position=RKZR&year={year}") \
        .get_data(as_text=True)


# -- one recommendation per person and round; posts + 1 under concurrency -----------------------

def test_ss5_a_person_recommended_twice_in_a_round_is_refused(app, people):
    with app.app_context():
        pid = make_person(people, "ss_admin", SS_VILLAGE, "19850101", name="重复人")
        first = start("ss_village", "recruitment", pid, position_code="XGY", posts=2)
        assert act("ss_village", first, "recommend") == "town_opinions"
        with as_user("ss_village") as village:
            with pytest.raises(WorkflowError) as info:
                services.start("recruitment", actor=village, person_id=pid, data={"position_code": "XGY", "posts": 2})
        assert (f"重复人在本轮（长福社区，岗位 XGY，{dt.date.today().year} 年）已有推荐事项（第 {first} 号，"
                "当前环节「镇卫生计生办、劳动保障服务中心意见」），同一人不能重复推荐") in info.value.message
        # a second case slipped in another way (say, another year's case moved into this round) is refused too
        year = dt.date.today().year
        with as_user("ss_village") as village:
            second = services.start("recruitment", actor=village, person_id=pid, cycle_year=year + 1,
                                    data={"position_code": "XGY", "posts": 2}).id
        with as_user("ss_admin"):
            db.session.execute(update(WorkflowInstance).where(WorkflowInstance.id == second).values(cycle_year=year))
            db.session.commit()
        assert "同一人不能重复推荐" in refused("ss_village", second, "recommend")
        assert state(second) == "recommended"
        # once turned down, the person may be put forward again in the same round
        act("ss_admin", first, "reject", comment="群众评议未通过")
        assert act("ss_village", second, "recommend") == "town_opinions"


@pytest.mark.skipif(not is_postgres(), reason="real concurrency needs PostgreSQL (SQLite serialises writers)")
def test_ss5_two_clerks_recommending_at_once_cannot_exceed_posts_plus_one(app, people, monkeypatch):
    from app.workflows import recruitment

    with app.app_context():
        ids = [make_person(people, "ss_admin", SS_VILLAGE, "19850101", name=f"并发{i}") for i in range(3)]
        cases = [start("ss_village", "recruitment", pid, position_code="XGY", posts=1) for pid in ids]
        assert act("ss_village", cases[0], "recommend") == "town_opinions"  # 1 post: room for one more
    counted = recruitment.round_info

    def slow_round_info(*args, **kwargs):  # widen the window between counting and writing
        info = counted(*args, **kwargs)
        time.sleep(0.5)
        return info

    monkeypatch.setattr(recruitment, "round_info", slow_round_info)
    barrier = threading.Barrier(2)
    results: list[str] = []

    def recommend(inst_id: int) -> None:
        with app.app_context():
            barrier.wait()
            try:
                results.append(act("ss_village", inst_id, "recommend"))
            except WorkflowError as exc:
                results.append(exc.message)

    threads = [threading.Thread(target=recommend, args=(i,)) for i in cases[1:]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2 and results.count("town_opinions") == 1, results
    [refusal] = [r for r in results if r != "town_opinions"]
    assert "最多推荐 2 名候选人（差额1人），已推荐 2 名" in refusal
    with app.app_context():
        assert sorted(state(i) for i in cases) == ["recommended", "town_opinions", "town_opinions"]

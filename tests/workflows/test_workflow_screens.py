"""The screens as users see them: the whole SS-5 recruitment over HTTP, refusals, isolation, the diagram."""

from __future__ import annotations

import datetime as dt
import re

import fakeredis
import pytest
from rq import Queue
from sqlalchemy import select
from wf_support import as_user, person_under

from app.extensions import db
from app.workflows import services
from app.workflows.models import WorkflowInstance
from app.workflows.timers import fire_due
from support import login

ID_NUMBER = "350581198203028452"  # 黄金建, 长福社区 (the demo village clerk's village)


@pytest.fixture
def inline_jobs(app, monkeypatch):
    conn = fakeredis.FakeRedis()
    monkeypatch.setitem(app.extensions, "countydesk_queues",
                        {n: Queue(n, connection=conn, is_async=False) for n in ("default", "long")})


def _client(app, username):
    return login(app.test_client(), username)


def _state(app, inst_id):
    with app.app_context(), as_user("ss_admin"):
        inst = db.session.get(WorkflowInstance, inst_id)
        return inst.state, inst.row_version


def _act(client, inst_id, action, **form):
    return client.post(f"/workflows/case/{inst_id}/act", data={"action": action, **form})


LEAVE = """code: menu_leave
name: 请假审批
subject: person
states:
  - {code: draft, label: 填写申请}
  - {code: town_review, label: 镇审核}
  - {code: done, label: 已批准, final: true}
transitions:
  - {action: submit, label: 提交申请, from: draft, to: town_review, who: {role: village_worker}}
  - {action: approve, label: 同意, from: town_review, to: done, who: {role: town_clerk}}
  - {action: refuse, label: 不同意, from: town_review, to: done, who: {role: county_admin}}
"""


@pytest.fixture
def leave(app, wf):
    """A process without county rules (any number of cases per person), saved as the county admin would."""
    from sqlalchemy import delete

    from app.workflows import designer
    from app.workflows.models import WorkflowDefinition

    with app.app_context(), as_user("ss_admin"):
        designer.save(designer.check(LEAVE))
    yield "menu_leave"
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(delete(WorkflowInstance.__table__).where(WorkflowInstance.__table__.c.definition_code
                                                              == "menu_leave"))
        conn.execute(delete(WorkflowDefinition.__table__).where(WorkflowDefinition.__table__.c.code == "menu_leave"))


def _leave_cases(app, n_submitted, n_drafts):
    with app.app_context(), as_user("ss_village") as v:
        ids = [services.start("menu_leave", actor=v, person_id=person_under("350581001001")).id
               for _ in range(n_submitted + n_drafts)]
        for i in ids[:n_submitted]:
            services.act(i, "submit", actor=v)
    return ids


def test_ss5_full_recruitment_over_http(app, wf, inline_jobs):
    from app.staffing.models import Appointment

    village, town, admin = (_client(app, u) for u in ("ss_village", "ss_town", "ss_admin"))
    resp = village.post("/workflows/start", data={"code": "recruitment", "id_number": ID_NUMBER,
                                                  "data_position_code": "XGY"})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    inst_id = int(re.search(r"/case/(\d+)", resp.headers["Location"]).group(1))
    page = village.get(f"/workflows/case/{inst_id}").get_data(as_text=True)
    assert "村委会推荐" in page and "推荐上报" in page
    assert _act(village, inst_id, "recommend").status_code == 302
    inbox = town.get("/workflows/").get_data(as_text=True)
    assert f"/workflows/case/{inst_id}" in inbox and "镇卫生计生办、劳动保障服务中心意见" in inbox
    page = town.get(f"/workflows/case/{inst_id}").get_data(as_text=True)
    assert "<option>卫生计生办</option>" in page and "<option>劳动保障服务中心</option>" in page  # unbound: any
    for party in ("卫生计生办", "劳动保障服务中心"):
        assert _act(town, inst_id, "town_opinion", party=party, decision="approve").status_code == 302
    assert _act(town, inst_id, "town_pass").status_code == 302
    assert _act(admin, inst_id, "county_approve", party="人社局", decision="approve").status_code == 302
    assert _state(app, inst_id)[0] == "county_review"
    page = admin.get(f"/workflows/case/{inst_id}").get_data(as_text=True)
    assert "人社局（同意）" in page and "ss_admin 录入「人社局」意见：同意" in page
    assert "ss_town 录入「卫生计生办」意见：同意" in page  # who recorded which party, also of earlier steps
    assert _act(admin, inst_id, "county_approve", party="计生协会", decision="approve").status_code == 302
    assert _state(app, inst_id)[0] == "publicity"
    with app.app_context(), as_user("ss_admin"):  # SS-5: the 7-day 公示 runs out
        assert fire_due(dt.datetime.now() + dt.timedelta(days=7, minutes=1)).moved == 1
    assert _act(town, inst_id, "fill_form", comment="聘用审批表已填").status_code == 302
    assert _act(town, inst_id, "labour_opinion", comment="同意聘用").status_code == 302
    assert _act(town, inst_id, "town_approve").status_code == 302
    for party in ("卫健局", "人社局", "计生协会"):
        assert _act(admin, inst_id, "hire", party=party, decision="approve").status_code == 302
    assert _state(app, inst_id)[0] == "hired"
    page = admin.get(f"/workflows/case/{inst_id}").get_data(as_text=True)
    for label in ("推荐上报", "镇单位意见", "镇审核通过", "会签审定", "期满", "填写聘用审批表", "劳动保障服务中心意见",
                  "镇政府审核通过", "批准聘用"):
        assert label in page
    with app.app_context(), as_user("ss_admin"):
        inst = db.session.get(WorkflowInstance, inst_id)
        assert db.session.scalar(select(Appointment.id).where(Appointment.person_id == inst.person_id,
                                                              Appointment.start_date == dt.date.today()))


def test_acting_without_the_role_is_403_and_changes_nothing(app, wf):
    with app.app_context(), as_user("ss_village") as v:
        inst_id = services.start("recruitment", actor=v, person_id=person_under("350581001001"),
                                 data={"position_code": "XGY"}).id
    before = _state(app, inst_id)
    resp = _act(_client(app, "ss_town"), inst_id, "recommend")
    assert resp.status_code == 403 and "村填报员" in resp.get_data(as_text=True)
    assert _state(app, inst_id) == before
    resp = _act(_client(app, "ss_village"), inst_id, "recommend", row_version=str(before[1] - 1))
    assert resp.status_code == 409 and "已被他人处理" in resp.get_data(as_text=True)
    assert _state(app, inst_id) == before


def test_guanling_user_gets_404_on_a_shishi_case_everywhere(app, wf):
    with app.app_context(), as_user("ss_village") as v:
        inst_id = services.start("recruitment", actor=v, person_id=person_under("350581001001"),
                                 data={"position_code": "XGY"}).id
    before = _state(app, inst_id)
    gl = _client(app, "gl_admin")
    assert gl.get(f"/workflows/case/{inst_id}").status_code == 404
    assert _act(gl, inst_id, "reject", comment="x").status_code == 404
    assert f"/workflows/case/{inst_id}" not in gl.get("/workflows/").get_data(as_text=True)
    assert gl.get("/workflow_definitions/recruitment").status_code == 404
    resp = gl.post("/workflows/bulk", data={"code": "recruitment", "org_code": "350581001", "action": "town_pass"})
    assert resp.status_code == 404
    assert _state(app, inst_id) == before


def test_province_viewer_and_unauthenticated_cannot_act(app, wf):
    with app.app_context(), as_user("ss_village") as v:
        inst_id = services.start("recruitment", actor=v, person_id=person_under("350581001001"),
                                 data={"position_code": "XGY"}).id
    before = _state(app, inst_id)
    viewer = _client(app, "fj_viewer")
    assert _act(viewer, inst_id, "recommend").status_code in (302, 403)
    assert _act(app.test_client(), inst_id, "recommend").status_code in (302, 401, 403)
    assert _state(app, inst_id) == before


def test_inbox_shows_counts_and_bulk_approval_over_http(app, leave):
    ids = _leave_cases(app, 2, 0)
    town = _client(app, "ss_town")
    page = town.get("/workflows/").get_data(as_text=True)
    assert re.search(r'id="cd-inbox-total">2<', page)
    resp = town.post("/workflows/bulk", data={"code": "menu_leave", "org_code": "350581001", "action": "approve",
                                              "comment": "批量审核"})
    assert resp.status_code == 302
    assert {_state(app, i)[0] for i in ids} == {"done"}
    assert re.search(r'id="cd-inbox-total">0<', town.get("/workflows/").get_data(as_text=True))

def test_definition_list_and_diagram_for_the_county_admin(app, wf):
    admin = _client(app, "ss_admin")
    page = admin.get("/workflow_definitions/").get_data(as_text=True)
    assert "协管员选聘" in page and "年度考核" in page
    page = admin.get("/workflow_definitions/recruitment").get_data(as_text=True)
    assert "<svg" in page and page.count('class="cd-wf-state"') == 11 and "公示（7天）" in page
    assert "人社局、计生协会" in page
    assert _client(app, "ss_town").get("/workflow_definitions/").status_code in (302, 403)


def test_menu_shows_how_many_cases_wait_for_each_user(app, leave):
    ids = _leave_cases(app, 2, 1)
    town, village, admin = (_client(app, u) for u in ("ss_town", "ss_village", "ss_admin"))
    assert "待办事项 (2)" in town.get("/").get_data(as_text=True)  # two cases at 镇审核
    assert "待办事项 (1)" in village.get("/workflows/").get_data(as_text=True)  # one not yet submitted
    assert "待办事项 (2)" in admin.get("/").get_data(as_text=True)  # the county may refuse at 镇审核
    gl_page = _client(app, "gl_admin").get("/").get_data(as_text=True)
    assert "待办事项" in gl_page and "待办事项 (" not in gl_page  # another county's cases never count
    assert _act(town, ids[0], "approve").status_code == 302
    assert "待办事项 (1)" in town.get("/").get_data(as_text=True)  # counted afresh on every page


def test_menu_count_is_the_inbox_total_in_one_query(app, leave):
    from sqlalchemy import event

    from app.workflows.inbox_count import waiting_count

    _leave_cases(app, 2, 1)
    for user in ("ss_town", "ss_village", "ss_admin", "gl_admin"):
        with app.app_context(), as_user(user) as actor:
            inbox = services.inbox(actor)  # also warms the definition cache
            assert waiting_count(actor) == inbox.total + len(inbox.notices), user
            statements: list[str] = []

            def listener(*args, seen=statements):
                seen.append(args[2])

            event.listen(db.engine, "before_cursor_execute", listener)
            try:
                waiting_count(actor)
            finally:
                event.remove(db.engine, "before_cursor_execute", listener)
            assert len([s for s in statements if "workflow_instance" in s]) == 1, statements
            assert all("workflow_instance" in s or "set_config" in s.lower() for s in statements), statements


def test_bound_user_votes_only_for_their_department_over_http(app, probe, bound_admin):
    with app.app_context(), as_user("ss_admin") as admin:
        inst_id = services.start(probe, actor=admin, person_id=person_under("350581001001"),
                                 data={"position_code": "XGY"}).id
        db.session.execute(WorkflowInstance.__table__.update().where(WorkflowInstance.__table__.c.id == inst_id)
                           .values(state="county_review", last_user_id=None))
        db.session.commit()
    before = _state(app, inst_id)
    bound = _client(app, bound_admin)
    page = bound.get(f"/workflows/case/{inst_id}").get_data(as_text=True)
    assert "<option selected>人社局</option>" in page and "<option>计生协会</option>" not in page  # preselected
    resp = _act(bound, inst_id, "county_approve", party="计生协会", decision="approve")
    assert resp.status_code == 403 and "您代表「人社局」表态，不能代「计生协会」表态" in resp.get_data(as_text=True)
    assert _state(app, inst_id) == before
    assert _act(bound, inst_id, "county_approve", party="人社局", decision="approve").status_code == 302
    admin = _client(app, "ss_admin")  # no department: records the other department's paper opinion
    page = admin.get(f"/workflows/case/{inst_id}").get_data(as_text=True)
    assert "<option>计生协会</option>" in page and "ss_rsj 录入「人社局」意见：同意" in page
    assert _act(admin, inst_id, "county_approve", party="计生协会", decision="approve").status_code == 302
    page = admin.get(f"/workflows/case/{inst_id}").get_data(as_text=True)
    assert "ss_admin 录入「计生协会」意见：同意" in page and _state(app, inst_id)[0] == "publicity"


def test_bulk_opinion_of_one_department_over_http(app, probe):
    with app.app_context(), as_user("ss_admin") as admin:
        ids = [services.start(probe, actor=admin, person_id=person_under("350581001001"), cycle_year=3000 + i,
                              data={"position_code": "XGY"}).id for i in range(2)]
        db.session.execute(WorkflowInstance.__table__.update().where(WorkflowInstance.__table__.c.id.in_(ids))
                           .values(state="county_review", last_user_id=None))
        db.session.commit()
    admin_client = _client(app, "ss_admin")
    resp = admin_client.post("/workflows/bulk", data={"code": probe, "org_code": "350581001",
                                                      "action": "county_approve", "party": "人社局"},
                             follow_redirects=True)
    assert "已记录「人社局」意见 2 件，其中 0 件会签完成、已办理" in resp.get_data(as_text=True)
    resp = admin_client.post("/workflows/bulk", data={"code": probe, "org_code": "350581001",
                                                      "action": "county_approve", "party": "计生协会"})
    assert resp.status_code == 302
    assert {_state(app, i)[0] for i in ids} == {"publicity"}

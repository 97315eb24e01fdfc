"""流程设计: check / preview / save as a new version, versions and diff, who may use it, county isolation."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import delete, func, select
from wf_support import as_user, person_under

from app.extensions import db
from app.workflows import designer, services
from app.workflows.models import WorkflowDefinition, WorkflowInstance
from support import login

CODE = "dsg_leave"
YAML_V1 = """code: dsg_leave
name: 请假审批
subject: person
states:
  - {code: draft, label: 填写申请}
  - {code: town_review, label: 镇审核}
  - {code: done, label: 已批准, final: true}
transitions:
  - {action: submit, label: 提交申请, from: draft, to: town_review, who: {role: village_worker}}
  - {action: approve, label: 同意, from: town_review, to: done, who: {role: town_clerk}, approves: true}
  - {action: back, label: 退回, from: town_review, to: draft, who: {role: town_clerk}, returns: true}
"""
YAML_V2 = YAML_V1.replace("to: done, who: {role: town_clerk}, approves: true}",
                          "to: county_review, who: {role: town_clerk}, approves: true}") \
    .replace("  - {code: done, label: 已批准, final: true}\n",
             "  - {code: county_review, label: 县审批}\n  - {code: done, label: 已批准, final: true}\n") \
    + "  - {action: county_ok, label: 县批准, from: county_review, to: done, who: {role: county_admin}}\n"
BAD = """code: dsg_bad
name: 有错的流程
states:
  - {code: draft, label: 填写}
  - {code: done, label: 完成, final: true}
transitions:
  - {action: submit, label: 提交, from: draft, to: finished, who: {role: village_worker}}
  - {action: close, label: 关闭, from: draft, to: done, who: {role: mayor}}
"""


@pytest.fixture
def designed(app, wf):
    yield
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(delete(WorkflowInstance.__table__).where(WorkflowInstance.__table__.c.definition_code
                                                              .like("dsg_%")))
        conn.execute(delete(WorkflowDefinition.__table__).where(WorkflowDefinition.__table__.c.code.like("dsg_%")))
    with app.app_context():
        db.session.remove()


def _client(app, username):
    return login(app.test_client(), username)


def _post(client, path, text, action="save", **extra):
    return client.post(path, data={"definition_yaml": text, "action": action, **extra})


def _versions(app, username="ss_admin", code=CODE):
    with app.app_context(), as_user(username):
        return [r.version for r in db.session.scalars(select(WorkflowDefinition).where(WorkflowDefinition.code == code)
                                                       .order_by(WorkflowDefinition.version))]


def test_saved_workflow_is_used_by_new_cases_at_once_and_running_cases_keep_their_version(app, designed):
    admin = _client(app, "ss_admin")
    assert "请假审批" not in admin.get("/workflow-designer/").text
    resp = _post(admin, "/workflow-designer/new", YAML_V1)
    assert resp.status_code == 302, resp.text
    assert resp.headers["Location"].endswith(f"/workflow-designer/{CODE}/versions")
    assert "已保存为第 1 版" in admin.get(resp.headers["Location"]).text
    page = admin.get("/workflow-designer/").text
    assert "请假审批" in page and "第 1 版" in page
    with app.app_context(), as_user("ss_village") as v:
        old_case = services.start(CODE, actor=v, person_id=person_under("350581001001")).id

    edit = admin.get(f"/workflow-designer/{CODE}/edit").text
    assert 'name="base_version" value="1"' in edit and "town_review" in edit
    resp = _post(admin, f"/workflow-designer/{CODE}/edit", YAML_V2, base_version="1")
    assert resp.status_code == 302, resp.text
    assert _versions(app) == [1, 2]

    with app.app_context(), as_user("ss_village") as v:
        new_case = services.start(CODE, actor=v, person_id=person_under("350581001001")).id
        for inst_id in (old_case, new_case):
            services.act(inst_id, "submit", actor=v)
    with app.app_context(), as_user("ss_town") as town:
        services.act(old_case, "approve", actor=town)
        services.act(new_case, "approve", actor=town)
        old, new = db.session.get(WorkflowInstance, old_case), db.session.get(WorkflowInstance, new_case)
        assert (old.definition_version, old.state) == (1, "done")  # v1: the town's approval ends it
        assert (new.definition_version, new.state) == (2, "county_review")  # v2: the county decides

    # saving the same text again adds no version
    resp = _post(admin, f"/workflow-designer/{CODE}/edit", YAML_V2, base_version="2")
    assert resp.status_code == 302 and _versions(app) == [1, 2]


def test_check_lists_every_problem_with_its_line_and_saves_nothing(app, designed):
    admin = _client(app, "ss_admin")
    for action in ("check", "save", "preview"):
        resp = _post(admin, "/workflow-designer/new", BAD, action=action)
        assert resp.status_code == 422
        assert "发现 3 处问题，未保存" in resp.text
        assert "第7行 transitions[0].to：未知状态「finished」" in resp.text
        assert "第8行 transitions[1].who.role：角色应为" in resp.text
        assert "第5行 states「done」：状态「完成」从起始状态「填写」无法到达" in resp.text
    resp = _post(admin, "/workflow-designer/new", "code: dsg_x\nname: [unclosed\n", action="check")
    assert resp.status_code == 422 and "YAML 格式错误" in resp.text and re.search(r"第[23]行", resp.text)
    assert _versions(app, code="dsg_bad") == [] and _versions(app, code="dsg_x") == []


def test_problems_in_named_states_point_at_their_line(app, designed):
    timed = "  - code: town_review\n    label: 镇审核\n    timer: {duration_days: 7, on_timeout: nowhere}\n"
    text = YAML_V1.replace("  - {code: town_review, label: 镇审核}\n", timed)
    with app.app_context(), as_user("ss_admin"):
        checked = designer.check(text)
    assert not checked.ok
    assert checked.problems == ["第8行 states「town_review」.timer.on_timeout："
                                "超时动作「nowhere」不是从「镇审核」出发的流转（或写 escalate）"]


def test_check_and_preview_draw_the_unsaved_text_and_save_nothing(app, designed):
    admin = _client(app, "ss_admin")
    resp = _post(admin, "/workflow-designer/new", YAML_V2, action="check")
    assert resp.status_code == 200 and "检查通过" in resp.text
    resp = _post(admin, "/workflow-designer/new", YAML_V2, action="preview")
    assert resp.status_code == 200 and "预览（尚未保存）" in resp.text
    diagram = resp.text.split('id="cd-wf-designer-preview"', 1)[1]
    assert "<svg" in diagram and diagram.count('class="cd-wf-state"') == 4 and "县审批" in diagram
    assert _versions(app) == []


def test_a_new_workflow_may_not_take_an_existing_code_nor_an_edit_change_it(app, designed):
    admin = _client(app, "ss_admin")
    resp = _post(admin, "/workflow-designer/new", YAML_V1.replace("code: dsg_leave", "code: recruitment"))
    assert resp.status_code == 422 and "流程代码「recruitment」已被本县的另一个流程使用" in resp.text
    assert _post(admin, "/workflow-designer/new", YAML_V1).status_code == 302
    resp = _post(admin, f"/workflow-designer/{CODE}/edit", YAML_V1.replace("code: dsg_leave", "code: dsg_other"),
                 base_version="1")
    assert resp.status_code == 422 and "不能修改流程代码" in resp.text
    assert _versions(app) == [1] and _versions(app, code="dsg_other") == []


def test_saving_over_a_newer_version_is_refused(app, designed):
    first, second = _client(app, "ss_admin"), _client(app, "ss_admin")
    assert _post(first, "/workflow-designer/new", YAML_V1).status_code == 302
    # both open version 1; the second saves first
    assert _post(second, f"/workflow-designer/{CODE}/edit", YAML_V2, base_version="1").status_code == 302
    resp = _post(first, f"/workflow-designer/{CODE}/edit", YAML_V1.replace("请假审批", "请假审批（改）"),
                 base_version="1")
    assert resp.status_code == 409
    assert "流程「dsg_leave」已被他人改为第2版（您打开的是第1版），请重新打开后再修改" in resp.text
    assert "请假审批（改）" in resp.text  # the text typed is kept in the box
    assert _versions(app) == [1, 2]
    with app.app_context(), as_user("ss_admin"):
        assert designer.spec_of(CODE).name == "请假审批"


def test_versions_page_and_diff_between_versions(app, designed):
    admin = _client(app, "ss_admin")
    assert _post(admin, "/workflow-designer/new", YAML_V1).status_code == 302
    assert _post(admin, f"/workflow-designer/{CODE}/edit", YAML_V2, base_version="1").status_code == 302
    page = admin.get(f"/workflow-designer/{CODE}/versions").text
    rows = page.split('id="cd-wf-designer-versions"', 1)[1].split("</table>", 1)[0]
    assert rows.count("ss_admin") == 2
    diff = admin.get(f"/workflow-designer/{CODE}/diff?a=1&b=2").text
    states = diff.split('id="cd-wf-diff-states"', 1)[1].split("</ul>", 1)[0]
    assert "新增：县审批（county_review）" in states
    transitions = diff.split('id="cd-wf-diff-transitions"', 1)[1]
    assert "新增：县批准（county_ok）" in transitions and "to：done → county_review" in transitions
    assert "+- {code: county_review, label: 县审批}" in diff
    assert "两个版本没有差别" in admin.get(f"/workflow-designer/{CODE}/diff?a=2&b=2").text
    shown = admin.get(f"/workflow-designer/{CODE}/v/1").text
    assert "<svg" in shown and "county_review" not in shown
    assert admin.get(f"/workflow-designer/{CODE}/diff?a=1&b=9").status_code == 404


@pytest.mark.parametrize("user", ["ss_town", "ss_village", "fj_viewer"])
def test_only_county_admins_reach_the_designer(app, designed, user):
    client = _client(app, user)
    for path in ("/workflow-designer/", "/workflow-designer/new", "/workflow-designer/recruitment/edit",
                 "/workflow-designer/recruitment/versions"):
        assert client.get(path).status_code == 403, path
    assert _post(client, "/workflow-designer/new", YAML_V1).status_code == 403
    assert _post(client, "/workflow-designer/recruitment/edit", YAML_V1, base_version="1").status_code == 403
    assert _versions(app) == []


def test_another_countys_workflow_is_404_and_codes_are_per_county(app, designed):
    ss, gl = _client(app, "ss_admin"), _client(app, "gl_admin")
    assert _post(ss, "/workflow-designer/new", YAML_V1).status_code == 302
    assert "请假审批" not in gl.get("/workflow-designer/").text
    for path in (f"/workflow-designer/{CODE}/edit", f"/workflow-designer/{CODE}/versions",
                 f"/workflow-designer/{CODE}/v/1", f"/workflow-designer/{CODE}/diff?a=1&b=1"):
        assert gl.get(path).status_code == 404, path
    assert _post(gl, f"/workflow-designer/{CODE}/edit", YAML_V2, base_version="1").status_code == 404
    assert _versions(app) == [1]
    # the same code is free in another county
    assert _post(gl, "/workflow-designer/new", YAML_V1.replace("请假审批", "关岭请假")).status_code == 302
    assert _versions(app, "gl_admin") == [1]
    with app.app_context(), as_user("ss_admin"):
        assert designer.spec_of(CODE).name == "请假审批"


def _workflow_events(app, username: str, since: int = 0) -> list:
    """The user's county's audit events about workflow definitions of ``CODE`` after event ``since``."""
    from app.core.audit_models import AuditEvent

    with app.app_context(), as_user(username):
        events = [e for e in db.session.scalars(select(AuditEvent).where(
            AuditEvent.entity == "workflow_definition", AuditEvent.id > since).order_by(AuditEvent.id))
            if (e.after or {}).get("code") == CODE]
        for e in events:
            db.session.expunge(e)
        return events


def _last_event_id(app, username: str) -> int:
    from app.core.audit_models import AuditEvent

    with app.app_context(), as_user(username):
        return int(db.session.scalar(select(func.max(AuditEvent.id))) or 0)


def test_designer_saves_are_in_the_countys_audit_log_with_who_and_the_versions(app, designed):
    from app.security.models import CountyUser

    since = _last_event_id(app, "ss_admin")
    ss = _client(app, "ss_admin")
    assert _post(ss, "/workflow-designer/new", YAML_V1).status_code == 302
    assert _post(ss, f"/workflow-designer/{CODE}/edit", YAML_V2, base_version="1").status_code == 302
    assert _post(ss, f"/workflow-designer/{CODE}/edit", YAML_V2, base_version="2").status_code == 302  # unchanged
    refused = _post(ss, f"/workflow-designer/{CODE}/edit", YAML_V1, base_version="1")  # stale: nothing saved
    assert refused.status_code == 409
    with app.app_context(), as_user("ss_admin"):
        ids = [r.id for r in db.session.scalars(select(WorkflowDefinition).where(WorkflowDefinition.code == CODE)
                                                 .order_by(WorkflowDefinition.version))]
        admin = db.session.scalar(select(CountyUser.id).where(CountyUser.username == "ss_admin"))
    events = _workflow_events(app, "ss_admin", since)
    assert [(e.action, e.row_id, e.before, e.after) for e in events] == [
        ("create", ids[0], None, {"code": CODE, "name": "请假审批", "version": 1}),
        ("update", ids[1], {"code": CODE, "version": 1}, {"code": CODE, "name": "请假审批", "version": 2})]
    assert {(e.user_id, e.source) for e in events} == {(admin, "designer")}
    listed = ss.get("/auditeventview/list/?_flt_0_entity=workflow_definition").text
    assert f"/auditeventview/show/{events[1].id}" in listed
    shown = ss.get(f"/auditeventview/show/{events[1].id}").text
    changes = shown[shown.index('id="audit-event-changes"'):]
    assert re.search(r'<td>version</td><td class="before">1</td><td class="after">2</td>', changes), changes
    # Guanling's admin sees none of it, and Guanling's own save is Guanling's event
    gl = _client(app, "gl_admin")
    assert f"/auditeventview/show/{events[1].id}" not in gl.get(
        "/auditeventview/list/?_flt_0_entity=workflow_definition").text
    gl_since = _last_event_id(app, "gl_admin")
    assert _post(gl, "/workflow-designer/new", YAML_V1.replace("请假审批", "关岭请假")).status_code == 302
    [gl_event] = _workflow_events(app, "gl_admin", gl_since)
    assert gl_event.after["name"] == "关岭请假" and gl_event.tenant_id != events[0].tenant_id
    assert len(_workflow_events(app, "ss_admin", since)) == 2

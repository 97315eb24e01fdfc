"""The form designer: check, preview, save (new versions), versions and diffs, custom fields, isolation."""

from __future__ import annotations

import json
import re

import pytest
from forms_support import acting
from sqlalchemy import delete, func, select

from app.extensions import db
from app.forms import designer
from app.forms.custom_fields_models import CustomFieldDefinition
from app.forms.models import FormDefinition, FormRecord
from app.security.models import CountyUser
from support import login

CODE = "dsg_visit"
YAML_V1 = """code: dsg_visit
name: 入户走访记录
target: village
sections:
  - title: 走访
    fields:
      - {code: visit_date, label: 走访日期, type: date, required: true}
      - {code: households, label: 走访户数, type: integer, min: 0}
"""
YAML_V2 = YAML_V1.replace("min: 0}", "min: 0, max: 500}") + """\
      - {code: issues, label: 发现问题数, type: integer, min: 0}
rules:
  - check: 发现问题数 <= 走访户数
    message: 发现问题数不能多于走访户数
"""


@pytest.fixture
def cleanup(app, demo):
    yield
    for slug in ("shishi", "guanling"):
        with app.app_context(), acting(demo["tenant_ids"][slug]):
            db.session.execute(delete(FormRecord).where(FormRecord.form_code.in_([CODE, "dsg_table"])))
            db.session.execute(delete(FormDefinition).where(FormDefinition.code.in_([CODE, "dsg_table"])))
            db.session.execute(delete(CustomFieldDefinition).where(CustomFieldDefinition.code == "_appointment"))
            db.session.commit()


def _post(client, path: str, text: str, action: str = "save", **extra):
    return client.post(path, data={"mode": "yaml", "definition_yaml": text, "action": action, **extra})


def _definitions(app, demo, code: str = CODE, slug: str = "shishi") -> list:
    model = CustomFieldDefinition if code.startswith("_") else FormDefinition
    with app.app_context(), acting(demo["tenant_ids"][slug]):
        rows = list(db.session.scalars(select(model).where(model.code == code).order_by(model.version)))
        for r in rows:
            db.session.expunge(r)
        return rows


def _a_village(app, demo) -> int:
    from forms_support import SS_TOWN, villages

    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        return villages(SS_TOWN)[0].id


def test_saved_form_is_usable_at_once_and_edits_make_new_versions(app, demo, client, cleanup):
    login(client, "ss_admin")
    resp = _post(client, "/form-designer/new", YAML_V1)
    assert resp.status_code == 302, resp.text
    [v1] = _definitions(app, demo)
    with app.app_context():
        admin = db.session.scalar(select(CountyUser.id).where(CountyUser.username == "ss_admin"))
    assert (v1.version, v1.source, v1.created_by) == (1, "designer", admin)
    # usable right away, no restart: the generic screen and the API
    village = _a_village(app, demo)
    assert "走访户数" in client.get(f"/forms/{CODE}/add").text
    made = client.post(f"/forms/{CODE}/add", data={"org_unit_id": str(village), "visit_date": "2025-05-01",
                                                   "households": "12"})
    assert made.status_code == 302, made.text
    # an edit is a new version; the record keeps the version it was entered under
    resp = _post(client, f"/form-designer/{CODE}/edit", YAML_V2, base_version="1")
    assert resp.status_code == 302, resp.text
    assert [d.version for d in _definitions(app, demo)] == [1, 2]
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        assert db.session.scalar(select(FormRecord.form_version).where(FormRecord.form_code == CODE)) == 1
    api = client.post(f"/api/v1/forms/{CODE}/records", json={
        "org_unit_id": village, "data": {"visit_date": "2025-05-02", "households": 3, "issues": 5}})
    assert api.status_code == 422 and "发现问题数不能多于走访户数" in api.get_json()["errors"]["_form"]
    # the versions page says who and when; the diff says what changed
    page = client.get(f"/form-designer/{CODE}/versions").text
    assert "ss_admin" in page and "第 2 版" in page
    diff = client.get(f"/form-designer/{CODE}/diff?a=1&b=2").text
    added = diff[diff.index("新增字段"):diff.index("修改字段")]
    assert "发现问题数" in added
    changed = diff[diff.index("修改字段"):]
    assert "走访户数" in changed and "500" in changed
    # saving the same definition again makes no version
    _post(client, f"/form-designer/{CODE}/edit", YAML_V2, base_version="2")
    assert len(_definitions(app, demo)) == 2


@pytest.mark.parametrize(("text", "expected"), [
    ("code: dsg_visit\nname: [unclosed\n", "YAML 格式错误"),
    (YAML_V1.replace("type: integer", "type: number"),
     "第8行：表单「dsg_visit」第1节「走访」字段「households」：类型「number」无效"),
    (YAML_V1 + "rules:\n  - {check: 走访户数 + 1, message: 错}\n", "结果应为是/否"),
    (YAML_V1.replace("code: dsg_visit", "code: work_record"), "已被本县的另一张表单使用"),
])
def test_bad_definitions_are_refused_with_every_problem_and_nothing_saved(app, demo, client, cleanup, text,
                                                                            expected):
    login(client, "ss_admin")
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        before = db.session.scalar(select(func.count()).select_from(FormDefinition))
    for action in ("check", "save"):
        resp = _post(client, "/form-designer/new", text, action)
        assert resp.status_code == 422 and expected in resp.text, resp.text
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        assert db.session.scalar(select(func.count()).select_from(FormDefinition)) == before


def test_check_reports_all_problems_at_once(app, demo):
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        checked = designer.check({"code": "x", "name": "", "target": "moon", "sections": [
            {"title": "一", "fields": [{"code": "a", "label": "甲", "type": "nope"}]}]})
    assert not checked.ok
    text = "\n".join(checked.problems)
    assert "名称必填" in text and "填报对象「moon」无效" in text and "类型「nope」无效" in text


def test_check_and_preview_save_nothing(app, demo, client, cleanup):
    login(client, "ss_admin")
    ok = _post(client, "/form-designer/new", YAML_V2, "check")
    assert ok.status_code == 200 and "检查通过" in ok.text
    preview = _post(client, "/form-designer/new", YAML_V2, "preview")
    assert preview.status_code == 200
    shown = preview.text[preview.text.index("cd-designer-preview"):]
    assert "发现问题数" in shown and 'name="preview-households"' in shown and "填报单位" in shown
    assert _definitions(app, demo) == []


def test_field_table_serialises_to_the_tenant_yaml_format(app, demo, client, cleanup):
    login(client, "ss_admin")
    rows = [{"section": "基本", "code": "score", "label": "得分", "type": "decimal", "required": True, "min": "0",
             "max": "100", "choices": "", "help": "百分制", "rest": {"default": 60}},
            {"section": "基本", "code": "grade", "label": "等次", "type": "choice", "required": False, "min": "",
             "max": "", "choices": "优秀、合格，不合格", "help": "", "rest": {}}]
    resp = client.post("/form-designer/new", data={
        "mode": "table", "action": "save", "code": "dsg_table", "name": "表格建表", "target": "person",
        "periodicity": "yearly", "due_day": "", "lock_after_days": "", "fields_json": json.dumps(rows),
        "definition_yaml": "rules:\n  - {check: 得分 >= 0, message: 得分不能为负}\n"})
    assert resp.status_code == 302, resp.text
    [row] = _definitions(app, demo, "dsg_table")
    assert row.spec["sections"] == [{"title": "基本", "fields": [
        {"code": "score", "label": "得分", "type": "decimal", "required": True, "default": 60, "min": 0, "max": 100,
         "help": "百分制"},
        {"code": "grade", "label": "等次", "type": "choice", "choices": ["优秀", "合格", "不合格"]}]}]
    assert row.spec["rules"] == [{"check": "得分 >= 0", "message": "得分不能为负"}]
    edit = client.get("/form-designer/dsg_table/edit").text
    assert 'value="优秀、合格、不合格"' in edit and "得分不能为负" in edit


def test_custom_fields_of_appointments_are_edited_in_the_designer(app, demo, client, cleanup):
    login(client, "ss_admin")
    listing = client.get("/form-designer/").text
    assert "聘用记录自定义字段" in listing
    fields = "sections:\n  - title: 自定义字段\n    fields:\n      - {code: contract_no, label: 合同编号, type: %s}\n"
    bad = _post(client, "/form-designer/_appointment/edit", fields % "txt" + "rules:\n  - {check: 1 = 1, message: x}\n")
    assert bad.status_code == 422 and "类型「txt」无效" in bad.text and "不支持「rules」" in bad.text
    good = _post(client, "/form-designer/_appointment/edit", fields % "text")
    assert good.status_code == 302, good.text
    [row] = _definitions(app, demo, "_appointment")
    assert row.source == "designer"
    assert "合同编号" not in client.get("/forms/").text  # custom fields are not a form
    assert "合同编号" in client.get("/appointmentview/add").text
    client.get("/logout/")
    login(client, "gl_admin")
    assert "合同编号" not in client.get("/appointmentview/add").text


def test_guanling_admin_never_sees_or_edits_shishi_forms(app, demo, client, cleanup):
    login(client, "ss_admin")
    assert _post(client, "/form-designer/new", YAML_V1).status_code == 302
    client.get("/logout/")
    login(client, "gl_admin")
    assert "入户走访记录" not in client.get("/form-designer/").text
    assert client.get(f"/form-designer/{CODE}/edit").status_code == 404
    assert client.get(f"/form-designer/{CODE}/versions").status_code == 404
    assert client.get(f"/form-designer/{CODE}/v/1").status_code == 404
    assert _post(client, f"/form-designer/{CODE}/edit", YAML_V2).status_code == 404
    assert [d.version for d in _definitions(app, demo)] == [1]
    # the same code in Guanling is Guanling's own form, not a clash with Shishi's
    assert _post(client, "/form-designer/new", YAML_V1).status_code == 302
    assert [d.version for d in _definitions(app, demo, slug="guanling")] == [1]


@pytest.mark.parametrize("user", ["ss_town", "ss_village", "fj_viewer"])
def test_only_county_admins_reach_the_designer(client, demo, user):
    login(client, user)
    for resp in (client.get("/form-designer/"), client.get("/form-designer/new"),
                 _post(client, "/form-designer/new", YAML_V1)):
        assert resp.status_code in (302, 403)


def test_saving_over_a_newer_version_is_refused(app, demo, client, cleanup):
    login(client, "ss_admin")
    assert _post(client, "/form-designer/new", YAML_V1).status_code == 302
    assert _post(client, f"/form-designer/{CODE}/edit", YAML_V2, base_version="1").status_code == 302
    stale = _post(client, f"/form-designer/{CODE}/edit", YAML_V1, base_version="1")
    assert stale.status_code == 422 and "已被他人改为第2版" in stale.text
    assert [d.version for d in _definitions(app, demo)] == [1, 2]


def test_preview_shows_an_attachment_field_as_a_file_input_with_the_accepted_kinds(app, demo, client, cleanup):
    login(client, "ss_admin")
    text = YAML_V1 + "      - {code: photo, label: 走访照片, type: attachment}\n"
    resp = _post(client, "/form-designer/new", text, action="preview")
    assert resp.status_code == 200, resp.text
    preview = resp.text[resp.text.index('id="cd-designer-preview"'):]
    photo = re.search(r'<input[^>]*name="preview-photo"[^>]*>', preview)
    assert photo is not None, preview[:2000]
    assert 'type="file"' in photo.group(0) and 'accept=".pdf,.jpg,.jpeg,.png,.docx,.xlsx"' in photo.group(0)
    assert "可上传 PDF、JPG/PNG 图片、Word 文档（.docx）或 Excel 工作簿（.xlsx）" in preview
    assert _definitions(app, demo) == []


def _last_event_id(app, demo, slug: str = "shishi") -> int:
    from app.core.audit_models import AuditEvent

    with app.app_context(), acting(demo["tenant_ids"][slug]):
        return int(db.session.scalar(select(func.max(AuditEvent.id))) or 0)


def _designer_events(app, demo, entity: str, code: str, since: int, slug: str = "shishi") -> list:
    """The tenant's events about definitions of ``code`` after event ``since`` (read in the tenant's scope)."""
    from app.core.audit_models import AuditEvent

    with app.app_context(), acting(demo["tenant_ids"][slug]):
        events = [e for e in db.session.scalars(select(AuditEvent).where(AuditEvent.entity == entity,
                                                                         AuditEvent.id > since)
                                                .order_by(AuditEvent.id))
                  if (e.after or {}).get("code") == code]
        for e in events:
            db.session.expunge(e)
        return events


def test_designer_saves_are_in_the_countys_audit_log_with_who_and_the_versions(app, demo, client, cleanup):
    since = _last_event_id(app, demo)
    login(client, "ss_admin")
    assert _post(client, "/form-designer/new", YAML_V1).status_code == 302
    assert _post(client, f"/form-designer/{CODE}/edit", YAML_V2, base_version="1").status_code == 302
    assert _post(client, f"/form-designer/{CODE}/edit", YAML_V2, base_version="2").status_code == 302  # unchanged
    v1, v2 = _definitions(app, demo)
    with app.app_context():
        admin = db.session.scalar(select(CountyUser.id).where(CountyUser.username == "ss_admin"))
    events = _designer_events(app, demo, "form_definition", CODE, since)
    assert [(e.action, e.row_id, e.before, e.after) for e in events] == [
        ("create", v1.id, None, {"code": CODE, "name": "入户走访记录", "version": 1}),
        ("update", v2.id, {"code": CODE, "version": 1}, {"code": CODE, "name": "入户走访记录", "version": 2})]
    assert {(e.user_id, e.source) for e in events} == {(admin, "designer")}
    # the 操作日志 screen shows the save: what, and from which version to which
    listed = client.get("/auditeventview/list/?_flt_0_entity=form_definition").text
    assert f"/auditeventview/show/{events[1].id}" in listed and "表单定义" in listed  # a name, not the table's
    shown = client.get(f"/auditeventview/show/{events[1].id}").text
    changes = shown[shown.index('id="audit-event-changes"'):]
    assert re.search(r'<td>version</td><td class="before">1</td><td class="after">2</td>', changes), changes
    # custom fields saved in the designer are logged the same way
    body = "sections:\n  - title: 证书\n    fields:\n      - {code: contract_no, label: 合同编号, type: text}\n"
    assert _post(client, "/form-designer/_appointment/edit", body).status_code == 302
    [cf_event] = _designer_events(app, demo, "custom_field_definition", "_appointment", since)
    assert cf_event.action == "create" and cf_event.after["version"] == 1 and cf_event.user_id == admin
    # another county's admin does not see them
    client.get("/logout/")
    login(client, "gl_admin")
    assert f"/auditeventview/show/{events[1].id}" not in client.get(
        "/auditeventview/list/?_flt_0_entity=form_definition").text
    assert "入户走访记录" not in client.get(f"/auditeventview/show/{events[1].id}").text

"""Custom fields on core entities: Shishi's 持证上岗证书编号 (SS-9) on people, from its tenant.yaml."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from app.core.idcard import make_id_number
from app.core.tenancy import tenant_context
from app.extensions import db
from app.orgs.models import OrgUnit
from app.staffing.models import Person
from app.tenantio.config_file import read_config
from app.tenantio.problems import Problems
from support import login

LABEL = "持证上岗证书编号"


@pytest.fixture(autouse=True)
def _drop_test_people(app, demo):
    """People made here are removed afterwards, so other modules see the demo roster only."""
    yield
    for tenant_id in demo["tenant_ids"].values():
        with app.app_context(), tenant_context(tenant_id):
            for person in db.session.scalars(select(Person).where(Person.name.in_(
                    [f"持证{n}" for n in range(320, 330)] + ["持证甲", "持证乙", "持证丙", "关岭甲"]))):
                db.session.delete(person)
            db.session.commit()


def _village(app, tenant_id: int, town_path: str = "/350581/350581001/") -> int:
    with app.app_context(), tenant_context(tenant_id):
        return db.session.scalar(select(OrgUnit.id).where(OrgUnit.path.startswith(town_path),
                                                          OrgUnit.level == "village").order_by(OrgUnit.id).limit(1))


def _person(app, tenant_id: int, pid: int) -> Person:
    with app.app_context(), tenant_context(tenant_id):
        person = db.session.get(Person, pid)
        assert person is not None
        db.session.expunge(person)
        return person


def _new_person(client, village: int, seq: int, **extra) -> int:
    number = make_id_number("350581", dt.date(1986, 5, 6), seq, True)
    body = {"name": f"持证{seq}", "id_number": number, "phone": "13800000000", "org_unit": village}
    if extra:
        body["extra"] = extra
    resp = client.post("/api/v1/person/", json=body)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return int(resp.get_json()["id"])


def test_ss9_certificate_field_on_shishi_person_screens_not_on_guanling(app, demo, client):
    ss = demo["tenant_ids"]["shishi"]
    village = _village(app, ss)
    login(client, "ss_admin")
    page = client.get("/personview/add")
    assert page.status_code == 200 and LABEL in page.text and "SS-123456" in page.text
    number = make_id_number("350581", dt.date(1987, 1, 2), 321, True)
    form = {"name": "持证甲", "id_number": number, "education": "高中", "phone": "13800000001",
            "org_unit": str(village), "cf_cert_no": "SS-000123", "cf_cert_date": "2024-06-30"}
    resp = client.post("/personview/add", data=form)
    assert resp.status_code == 302, resp.text
    with app.app_context(), tenant_context(ss):
        pid = db.session.scalar(select(Person.id).where(Person.id_number == number))
    assert _person(app, ss, pid).extra == {"cert_no": "SS-000123", "cert_date": "2024-06-30"}
    shown = client.get(f"/personview/show/{pid}").text
    assert LABEL in shown and "SS-000123" in shown and "2024-06-30" in shown
    edit = client.get(f"/personview/edit/{pid}").text
    assert LABEL in edit and 'value="SS-000123"' in edit
    # Guanling defines no custom person fields: none on its screens
    client.get("/logout/")
    login(client, "gl_admin")
    assert LABEL not in client.get("/personview/add").text


def test_ss9_bad_certificate_number_is_refused_in_chinese_on_the_screen(app, demo, client):
    ss = demo["tenant_ids"]["shishi"]
    login(client, "ss_admin")
    number = make_id_number("350581", dt.date(1987, 1, 2), 322, True)
    resp = client.post("/personview/add", data={"name": "持证乙", "id_number": number, "phone": "13800000002",
                                                "org_unit": str(_village(app, ss)), "cf_cert_no": "123"})
    assert resp.status_code == 200 and "格式不符合要求" in resp.text
    with app.app_context(), tenant_context(ss):
        assert db.session.scalar(select(Person.id).where(Person.id_number == number)) is None


def test_ss9_custom_value_survives_an_edit_of_another_field(app, demo, client):
    ss = demo["tenant_ids"]["shishi"]
    village = _village(app, ss)
    login(client, "ss_admin")
    pid = _new_person(client, village, 323, cert_no="SS-000323")
    person = _person(app, ss, pid)
    # the screen: every field posted, the custom one as shown on the edit page
    resp = client.post(f"/personview/edit/{pid}", data={
        "name": person.name, "id_number": person.id_number, "education": "大专", "phone": "13800000003",
        "org_unit": str(village), "row_version": str(person.row_version), "cf_cert_no": "SS-000323"})
    assert resp.status_code == 302, resp.text
    assert _person(app, ss, pid).extra["cert_no"] == "SS-000323"
    # the API: a PUT that does not mention extra keeps it
    version = _person(app, ss, pid).row_version
    resp = client.put(f"/api/v1/person/{pid}", json={"phone": "13800000004", "row_version": version})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    after = _person(app, ss, pid)
    assert after.phone == "13800000004" and after.extra["cert_no"] == "SS-000323"


def test_ss9_api_shows_extra_and_validates_it(app, demo, client):
    ss = demo["tenant_ids"]["shishi"]
    village = _village(app, ss)
    login(client, "ss_admin")
    pid = _new_person(client, village, 324, cert_no="SS-000324")
    got = client.get(f"/api/v1/person/{pid}").get_json()["result"]
    assert got["extra"]["cert_no"] == "SS-000324"
    bad = client.put(f"/api/v1/person/{pid}", json={"extra": {"cert_no": "bad"}, "row_version": got["row_version"]})
    assert bad.status_code == 422
    assert LABEL in bad.get_json()["message"] and "格式不符合要求" in bad.get_json()["message"]
    unknown = client.put(f"/api/v1/person/{pid}", json={"extra": {"nope": 1}, "row_version": got["row_version"]})
    assert unknown.status_code == 422 and "未知字段" in unknown.get_json()["message"]
    wrong_date = client.post("/api/v1/person/", json={
        "name": "持证丙", "id_number": make_id_number("350581", dt.date(1986, 5, 6), 325, True),
        "org_unit": village, "extra": {"cert_date": "去年"}})
    assert wrong_date.status_code == 422 and "应为日期" in wrong_date.get_json()["message"]
    assert _person(app, ss, pid).extra == {"cert_no": "SS-000324"}
    ok = client.put(f"/api/v1/person/{pid}", json={"extra": {"cert_date": "2025-01-31"}, "phone": "13800000005",
                                                   "row_version": got["row_version"]})
    assert ok.status_code == 200, ok.get_data(as_text=True)
    after = _person(app, ss, pid)
    assert after.extra == {"cert_no": "SS-000324", "cert_date": "2025-01-31"}
    assert after.row_version == got["row_version"] + 1  # one save, one version


def test_guanling_api_refuses_shishi_custom_fields(app, demo, client):
    gl = demo["tenant_ids"]["guanling"]
    login(client, "gl_admin")
    village = _village(app, gl, "/520424/520424001/")
    resp = client.post("/api/v1/person/", json={
        "name": "关岭甲", "id_number": make_id_number("520424", dt.date(1986, 5, 6), 326, True),
        "org_unit": village, "extra": {"cert_no": "SS-000326"}})
    assert resp.status_code == 422 and "本县没有定义人员自定义字段" in resp.get_json()["message"]


def test_custom_fields_problems_in_tenant_yaml_are_located_in_chinese(copy_tenant):
    folder = copy_tenant("shishi")
    cfg = folder / "tenant.yaml"
    text = cfg.read_text(encoding="utf-8").replace("      type: date\n", "      type: datum\n")
    text = text.replace("custom_fields:\n", "custom_fields:\n  house:\n    - {code: a, label: 甲, type: text}\n")
    cfg.write_text(text, encoding="utf-8")
    problems = Problems()
    read_config(folder, problems)
    messages = [str(p) for p in problems.items]
    assert any("类型「datum」无效" in m and "人员自定义字段" in m and "第" in m for m in messages), messages
    assert any("未知的对象「house」" in m for m in messages), messages


# -- lists: columns, search, sort (SS-9 certificate) ---------------------------------------------------


def _names_in_order(html: str) -> list[str]:
    import re

    return re.findall(r"<td>(持证3\d\d)</td>", html)


def test_ss9_certificate_is_a_list_column_with_search_and_sort(app, demo, client):
    ss = demo["tenant_ids"]["shishi"]
    village = _village(app, ss)
    login(client, "ss_admin")
    _new_person(client, village, 327, cert_no="SS-000327", cert_date="2024-03-01")
    _new_person(client, village, 328, cert_no="SS-000328", cert_date="2024-09-01")
    _new_person(client, village, 329)
    base = "/personview/list/?_flt_2_name=持证3"
    page = client.get(base).text
    assert f"{LABEL}" in page and "_oc_PersonView=cf_cert_no" in page  # a sortable column
    assert "<td>SS-000327</td>" in page and "<td>2024-09-01</td>" in page
    assert sorted(_names_in_order(page)) == ["持证327", "持证328", "持证329"]
    assert 'id="cd-cf-search"' in page and 'name="_cf_cert_no"' in page and 'name="_cf_cert_date_from"' in page
    # contains, case-insensitive
    assert _names_in_order(client.get(f"{base}&_cf_cert_no=ss-000328").text) == ["持证328"]
    assert _names_in_order(client.get(f"{base}&_cf_cert_no=00032").text) != []
    # a date range
    ranged = client.get(f"{base}&_cf_cert_date_from=2024-06-01&_cf_cert_date_to=2024-12-31").text
    assert _names_in_order(ranged) == ["持证328"]
    # an unreadable bound is ignored rather than failing the page
    assert client.get(f"{base}&_cf_cert_date_from=去年").status_code == 200
    # sort by the custom field, both ways (rows without a value sort apart, at one end)
    down = _names_in_order(client.get(f"{base}&_oc_PersonView=cf_cert_no&_od_PersonView=desc").text)
    up = _names_in_order(client.get(f"{base}&_oc_PersonView=cf_cert_no&_od_PersonView=asc").text)
    assert down.index("持证328") < down.index("持证327") and up.index("持证327") < up.index("持证328")
    # the export follows the custom search too
    import io

    from openpyxl import load_workbook

    resp = client.get("/personview/export_xlsx/?_flt_2_name=持证3&_cf_cert_no=SS-000327")
    rows = list(load_workbook(io.BytesIO(resp.data)).active.iter_rows(values_only=True))
    assert [r[0] for r in rows[1:]] == ["持证327"] and rows[1][rows[0].index(LABEL)] == "SS-000327"
    # Guanling: no such column, no search panel
    client.get("/logout/")
    login(client, "gl_admin")
    other = client.get("/personview/list/").text
    assert LABEL not in other and "cd-cf-search" not in other


def test_unknown_sort_column_falls_back_to_the_default_order(app, demo, client):
    login(client, "ss_admin")
    assert client.get("/personview/list/?_oc_PersonView=nope&_od_PersonView=asc").status_code == 200
    assert client.get("/personview/list/?_oc_PersonView=cf_nope&_od_PersonView=asc").status_code == 200


def test_list_flag_chooses_the_listed_custom_fields():
    from app.forms.custom_fields import parse_entity

    fields = [{"code": "a", "label": "甲", "type": "text"}, {"code": "b", "label": "乙", "type": "date", "list": True},
              {"code": "c", "label": "丙", "type": "integer"}, {"code": "d", "label": "丁", "type": "text"}]
    form, problems = parse_entity("person", fields)
    assert problems == [] and [f.code for f in form.list_fields] == ["b"]
    assert form.to_dict()["list"] == ["b"]  # stored once, at the top (survives the designer's table)
    fixed = ("code", "name", "target", "periodicity")  # what the designer leaves out of the YAML box
    again, _ = parse_entity("person", {k: v for k, v in form.to_dict().items() if k not in fixed})
    assert again == form
    default, _ = parse_entity("person", [{k: v for k, v in f.items() if k != "list"} for f in fields])
    assert [f.code for f in default.list_fields] == ["a", "b", "c"]  # not said: the first three
    none, _ = parse_entity("person", {"list": [], "sections": [{"title": "x", "fields": fields[:1]}]})
    assert none.list_fields == ()
    _, bad = parse_entity("person", {"list": ["zz"], "sections": [{"title": "x", "fields": fields[:1]}]})
    assert any("list 中的字段「zz」未定义" in text for _, text in bad)
    _, bad = parse_entity("person", [{"code": "a", "label": "甲", "type": "text", "list": "yes"}])
    assert any("list 应为 true 或 false" in text for _, text in bad)


def test_list_flag_in_tenant_yaml_lists_only_the_flagged_field(app, copy_tenant, client):
    from app.security.services import add_user
    from app.tenantio.loader import load_tenant_folder

    folder = copy_tenant("shishi", "cflist")
    cfg = folder / "tenant.yaml"
    text = cfg.read_text(encoding="utf-8").replace("      type: date\n", "      type: date\n      list: true\n", 1)
    cfg.write_text(text, encoding="utf-8")
    with app.app_context():
        load_tenant_folder(folder)
        add_user("cflist_admin", role="county_admin", password="test-pass-123", tenant_slug="cflist")
    login(client, "cflist_admin")
    page = client.get("/personview/list/").text
    assert "_oc_PersonView=cf_cert_date" in page and "_oc_PersonView=cf_cert_no" not in page
    assert 'name="_cf_cert_no"' in page  # every custom field stays searchable


def test_conflict_page_shows_custom_values_of_both_versions(app, demo):
    ss = demo["tenant_ids"]["shishi"]
    village = _village(app, ss)
    first, second = app.test_client(), app.test_client()
    login(first, "ss_admin")
    login(second, "ss_town")
    pid = _new_person(first, village, 320, cert_no="SS-000320")
    person = _person(app, ss, pid)
    form = {"name": person.name, "id_number": person.id_number, "phone": "13800000000",
            "org_unit": str(village), "row_version": "1"}
    assert first.post(f"/personview/edit/{pid}", data={**form, "cf_cert_no": "SS-111111"}).status_code == 302
    html = second.post(f"/personview/edit/{pid}", data={**form, "cf_cert_no": "SS-222222"}).text
    assert "保存冲突" in html
    assert 'class="theirs">SS-111111<' in html and 'class="mine">SS-222222<' in html and LABEL in html
    assert _person(app, ss, pid).extra["cert_no"] == "SS-111111"


def test_designer_keeps_the_list_choice_in_yaml_and_table_mode(app, demo, client):
    import json

    from app.forms.custom_fields_models import CustomFieldDefinition

    gl = demo["tenant_ids"]["guanling"]
    login(client, "gl_admin")
    body = ("list: [b]\nsections:\n  - title: 自定义字段\n    fields:\n"
            "      - {code: a, label: 甲项, type: text}\n      - {code: b, label: 乙项, type: integer}\n")
    try:
        resp = client.post("/form-designer/_org_unit/edit", data={"mode": "yaml", "definition_yaml": body,
                                                                  "action": "save"})
        assert resp.status_code == 302, resp.text
        page = client.get("/orgunitview/list/").text
        assert "_oc_OrgUnitView=cf_b" in page and "_oc_OrgUnitView=cf_a" not in page
        rows = [{"section": "自定义字段", "code": "a", "label": "甲项", "type": "text"},
                {"section": "自定义字段", "code": "b", "label": "乙项改", "type": "integer"}]
        resp = client.post("/form-designer/_org_unit/edit", data={
            "mode": "table", "definition_yaml": body, "fields_json": json.dumps(rows, ensure_ascii=False),
            "action": "save", "base_version": "1"})
        assert resp.status_code == 302, resp.text
        page = client.get("/orgunitview/list/").text
        assert "乙项改" in page and "_oc_OrgUnitView=cf_a" not in page
    finally:
        with app.app_context(), tenant_context(gl):
            for row in db.session.scalars(select(CustomFieldDefinition).where(
                    CustomFieldDefinition.code == "_org_unit")):
                db.session.delete(row)
            db.session.commit()

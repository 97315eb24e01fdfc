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

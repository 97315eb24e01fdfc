"""Audit trail: every create/update/delete keeps who, when, before and after, per tenant."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
from sqlalchemy import func, select, text

from app.core.audit import audit_source, history
from app.core.audit_models import AuditEvent
from app.core.idcard import make_id_number
from app.core.tenancy import tenant_context
from app.extensions import db
from app.orgs.models import OrgUnit, PopulationFact
from app.security.models import CountyUser
from app.staffing.models import Person
from support import is_postgres, login


def _delete(client, url):
    """Delete through the API with the version just read (a DELETE without it is refused)."""
    version = client.get(url).get_json()["result"]["row_version"]
    return client.delete(f"{url}?row_version={version}")

def _events(app, entity: str, row_id: int, since: int = 0) -> list[dict[str, Any]]:
    """Read the trail with plain Core (no tenant filter), as an auditor would; events after ``since``."""
    with app.app_context():
        conn = db.session.connection()
        if is_postgres():
            conn.execute(text("SELECT set_config('countydesk.all_tenants', 'on', true)"))
        t = AuditEvent.__table__
        rows = conn.execute(select(t).where(t.c.entity == entity, t.c.row_id == row_id, t.c.id > since)
                            .order_by(t.c.id))
        out = [dict(r._mapping) for r in rows]
        db.session.rollback()
        return out


def _last_event_id(app) -> int:
    """Ids of deleted rows can come back (SQLite), so each test reads only the events it caused."""
    with app.app_context():
        conn = db.session.connection()
        if is_postgres():
            conn.execute(text("SELECT set_config('countydesk.all_tenants', 'on', true)"))
        last = conn.execute(select(func.max(AuditEvent.__table__.c.id))).scalar() or 0
        db.session.rollback()
        return int(last)


def _user_id(app, username: str) -> int:
    with app.app_context():
        return db.session.scalar(select(CountyUser.id).where(CountyUser.username == username))


def _villages(app, tenant_id: int, town_path: str = "/350581/350581001/") -> list[int]:
    with app.app_context(), tenant_context(tenant_id):
        return list(db.session.scalars(select(OrgUnit.id).where(OrgUnit.path.startswith(town_path),
                                                                OrgUnit.level == "village").order_by(OrgUnit.id)))


def _village(app, tenant_id: int) -> int:
    return _villages(app, tenant_id)[0]


def _new_id_number(seq: int) -> str:
    return make_id_number("350581", dt.date(1985, 3, 4), seq, True)


def test_api_create_update_delete_each_leave_one_event(app, demo, client):
    ss = demo["tenant_ids"]["shishi"]
    since = _last_event_id(app)
    login(client, "ss_admin")
    number = _new_id_number(411)
    resp = client.post("/api/v1/person/", json={"name": "审计甲", "id_number": number, "phone": "13700000001",
                                                "org_unit": _village(app, ss)})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    pid = resp.get_json()["id"]
    admin = _user_id(app, "ss_admin")

    [created] = _events(app, "person", pid, since)
    assert (created["action"], created["user_id"], created["source"], created["tenant_id"]) == \
        ("create", admin, "api", ss)
    assert created["before"] is None
    assert created["after"]["name"] == "审计甲" and created["after"]["birth_date"] == "1985-03-04"
    assert created["after"]["id_number"] == number[:4] + "*" * 10 + number[-4:]

    assert client.put(f"/api/v1/person/{pid}", json={"phone": "13700000002", "row_version": 1}).status_code == 200
    updated = _events(app, "person", pid, since)[1]
    assert updated["action"] == "update" and updated["user_id"] == admin
    assert updated["before"] == {"phone": "13700000001", "row_version": 1}
    assert updated["after"] == {"phone": "13700000002", "row_version": 2}

    assert _delete(client, f"/api/v1/person/{pid}").status_code == 200
    events = _events(app, "person", pid, since)
    assert [e["action"] for e in events] == ["create", "update", "delete"]
    assert events[2]["before"]["phone"] == "13700000002" and events[2]["after"] is None


def test_screen_create_edit_delete_and_history_on_the_show_page(app, demo, client):
    ss = demo["tenant_ids"]["shishi"]
    since = _last_event_id(app)
    login(client, "ss_admin")
    number = _new_id_number(412)
    village, moved_to = _villages(app, ss)[:2]
    resp = client.post("/personview/add", data={"name": "审计乙", "id_number": number, "education": "高中",
                                                "phone": "13700000011", "org_unit": str(village)})
    assert resp.status_code == 302
    with app.app_context(), tenant_context(ss):
        pid = db.session.scalar(select(Person.id).where(Person.id_number == number))
    resp = client.post(f"/personview/edit/{pid}", data={
        "name": "审计乙", "id_number": number, "education": "大专", "phone": "13700000012",
        "org_unit": str(moved_to), "row_version": "1"})
    assert resp.status_code == 302
    events = _events(app, "person", pid, since)
    assert [(e["action"], e["source"]) for e in events] == [("create", "screen"), ("update", "screen")]
    assert events[1]["before"] == {"education": "高中", "phone": "13700000011", "org_unit_id": village,
                                   "row_version": 1}
    assert events[1]["after"]["org_unit_id"] == moved_to  # a reassigned relationship is seen too

    html = client.get(f"/personview/show/{pid}").get_data(as_text=True)
    history_html = html[html.index("修改历史"):]
    assert "ss_admin" in history_html and "修改" in history_html and "新增" in history_html
    assert re.search(r"学历</strong>：高中 → 大专", history_html)
    assert re.search(r"电话</strong>：13700000011 → 13700000012", history_html)
    assert number not in html  # the ID number is masked in the history

    assert client.post(f"/personview/delete/{pid}?row_version=2").status_code == 302
    assert [e["action"] for e in _events(app, "person", pid, since)] == ["create", "update", "delete"]


CORE_SCREENS = ("orgunitview", "populationfactview", "positionview", "personview", "appointmentview")


def test_every_core_show_page_has_a_history_section(app, demo, client):
    ss = demo["tenant_ids"]["shishi"]
    login(client, "ss_admin")
    with app.app_context(), tenant_context(ss):
        fact = db.session.scalars(select(PopulationFact).order_by(PopulationFact.id)).first()
        fact_id, households = fact.id, fact.households
    resp = client.put(f"/api/v1/population_fact/{fact_id}", json={"households": (households or 0) + 1})
    assert resp.status_code == 200
    html = client.get(f"/populationfactview/show/{fact_id}").get_data(as_text=True)
    assert "修改历史" in html and "户数" in html and f"→ {(households or 0) + 1}" in html
    for route in CORE_SCREENS:
        listing = client.get(f"/api/v1/{route.removesuffix('view').replace('orgunit', 'org_unit').replace('populationfact', 'population_fact')}/?q=(page_size:1)").get_json()  # noqa: E501
        row_id = listing["ids"][0]
        html = client.get(f"/{route}/show/{row_id}").get_data(as_text=True)
        assert 'id="record-history"' in html, route
    client.put(f"/api/v1/population_fact/{fact_id}", json={"households": households})


def test_id_number_never_stored_unmasked_in_the_trail(app, demo, client):
    ss = demo["tenant_ids"]["shishi"]
    login(client, "ss_admin")
    number = _new_id_number(413)
    pid = client.post("/api/v1/person/", json={"name": "审计丙", "id_number": number,
                                               "org_unit": _village(app, ss)}).get_json()["id"]
    other = _new_id_number(414)
    assert client.put(f"/api/v1/person/{pid}", json={"id_number": other, "row_version": 1}).status_code == 200
    _delete(client, f"/api/v1/person/{pid}")
    with app.app_context():
        conn = db.session.connection()
        if is_postgres():
            conn.execute(text("SELECT set_config('countydesk.all_tenants', 'on', true)"))
        t = AuditEvent.__table__
        dumped = json.dumps([[r.before, r.after] for r in conn.execute(select(t.c.before, t.c.after))],
                            ensure_ascii=False)
        db.session.rollback()
    assert number not in dumped and other not in dumped
    assert number[:4] + "*" * 10 + number[-4:] in dumped


def test_guanling_never_sees_shishi_audit_events(app, demo, client):
    ids = demo["tenant_ids"]
    login(client, "ss_admin")
    pid = client.post("/api/v1/person/", json={"name": "审计丁", "id_number": _new_id_number(415),
                                               "org_unit": _village(app, ids["shishi"])}).get_json()["id"]
    client.get("/logout/")
    login(client, "gl_admin")
    with app.app_context(), tenant_context(ids["guanling"]):
        own = db.session.scalar(select(func.count()).select_from(AuditEvent))
        assert history("person", pid) == []  # the service is tenant-scoped too
    with app.app_context(), tenant_context(ids["shishi"]):
        shishi_event = db.session.scalars(select(AuditEvent.id).where(AuditEvent.row_id == pid)).first()
    api = client.get("/api/v1/audit_event/?q=(page_size:100)").get_json()
    assert api["count"] == own
    assert {r["entity"] for r in api["result"]} and all(r["row_id"] != pid or r["entity"] != "person"
                                                        for r in api["result"])
    assert client.get(f"/api/v1/audit_event/{shishi_event}").status_code == 404
    assert client.get(f"/auditeventview/show/{shishi_event}").status_code == 404
    html = client.get("/auditeventview/list/?_l_=en").get_data(as_text=True)
    assert re.search(r"Record Count:</strong>\s*(\d+)", html).group(1) == str(own)
    assert "审计丁" not in html
    assert client.get(f"/personview/show/{pid}").status_code == 404  # nor the record with its history
    client.get("/logout/")
    login(client, "ss_admin")
    _delete(client, f"/api/v1/person/{pid}")


def test_audit_log_is_read_only_and_for_county_admins(app, demo, client):
    ids = demo["tenant_ids"]
    with app.app_context(), tenant_context(ids["shishi"]):
        event_id = db.session.scalars(select(AuditEvent.id)).first()
        before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    login(client, "fj_viewer")  # read-only provincial user: no audit log, of any county
    assert client.get("/api/v1/audit_event/").status_code == 403
    assert client.get(f"/api/v1/audit_event/{event_id}").status_code == 403
    assert client.get("/auditeventview/list/").status_code in (302, 403)
    client.get("/logout/")
    login(client, "ss_town")  # clerks neither
    assert client.get("/api/v1/audit_event/").status_code == 403
    client.get("/logout/")
    login(client, "ss_admin")  # the county admin reads, and nobody writes
    assert client.get(f"/api/v1/audit_event/{event_id}").status_code == 200
    assert client.put(f"/api/v1/audit_event/{event_id}", json={"entity": "x"}).status_code == 405
    assert client.delete(f"/api/v1/audit_event/{event_id}").status_code == 405
    assert client.post("/api/v1/audit_event/", json={"entity": "x", "row_id": 1, "action": "create"}).status_code \
        == 405
    assert client.post(f"/auditeventview/delete/{event_id}").status_code in (302, 403)
    assert client.post(f"/auditeventview/edit/{event_id}", data={"entity": "x"}).status_code in (302, 403)
    html = client.get("/auditeventview/list/").get_data(as_text=True)
    assert "操作日志" in html and "操作人" in html
    assert "gl_admin" not in html  # the 操作人 filter offers this county's users only
    with app.app_context(), tenant_context(ids["shishi"]):
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) >= before
        assert db.session.get(AuditEvent, event_id) is not None


def test_audit_source_and_cli_default(app, demo):
    ss = demo["tenant_ids"]["shishi"]
    with app.app_context(), tenant_context(ss):
        fact = db.session.scalars(select(PopulationFact).order_by(PopulationFact.id.desc())).first()
        fact_id, old = fact.id, fact.groups
        with audit_source("import:job-42"):
            fact.groups = (old or 0) + 7
            db.session.commit()
        fact = db.session.get(PopulationFact, fact_id)
        fact.groups = old
        db.session.commit()
    events = _events(app, "population_fact", fact_id)[-2:]
    assert [e["source"] for e in events] == ["import:job-42", "cli"]
    assert events[0]["after"] == {"groups": (old or 0) + 7} and events[0]["user_id"] is None


def test_derived_quota_rows_are_not_audited_row_by_row(app, demo):
    with app.app_context(), tenant_context(demo["tenant_ids"]["shishi"]):
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.entity == "staffing_quota")) == 0


def test_tenant_load_writes_one_summary_event_and_a_reload_none(app, demo, copy_tenant):
    from app.core.models import Tenant
    from app.tenantio.loader import load_tenant_folder

    folder = copy_tenant("guanling", "audit_load_probe")
    with app.app_context():
        report = load_tenant_folder(folder)
        db.session.remove()
    events = _events(app, "tenant_load", report.tenant_id)
    assert len(events) == 1
    assert events[0]["action"] == "create" and events[0]["tenant_id"] == report.tenant_id
    assert events[0]["source"] == "loader" and events[0]["after"]["inserted"]["person"] > 0
    with app.app_context():
        load_tenant_folder(folder)
        db.session.remove()
    assert len(_events(app, "tenant_load", report.tenant_id)) == 1
    with app.app_context():
        db.session.execute(Tenant.__table__.delete().where(Tenant.__table__.c.id == report.tenant_id))
        db.session.commit()


@pytest.mark.parametrize("route", ["auditeventview"])
def test_audit_log_screen_filters_by_entity(app, demo, client, route):
    login(client, "ss_admin")
    html = client.get(f"/{route}/list/?_flt_0_entity=tenant_load&_l_=en").get_data(as_text=True)
    assert re.search(r"Record Count:</strong>\s*1\b", html)


def test_model_hooks_name_the_entity_and_shape_the_snapshot():
    """The interface form records use: ``audit_entity`` and ``audit_snapshot(values)``; masking still applies."""
    from app.core.audit import _finish, entity_of

    class Record:
        audit_entity = "form:GZJL"

        def audit_snapshot(self, values: dict[str, Any]) -> dict[str, Any]:
            return {**values["payload"], "period": values["period"]}

    number = _new_id_number(416)
    snap = _finish(Record(), {"payload": {"户数": 3, "id_number": number, "日期": dt.date(2025, 3, 1)},
                              "period": "2025-03"})
    assert entity_of(Record()) == "form:GZJL"
    assert snap == {"户数": 3, "id_number": number[:4] + "*" * 10 + number[-4:], "日期": "2025-03-01",
                    "period": "2025-03"}


def test_one_save_flushed_twice_is_one_event_and_one_new_version(app, demo):
    """A hook that queries mid-save autoflushes half of the change; the clerk still made one edit."""
    ss = demo["tenant_ids"]["shishi"]
    since = _last_event_id(app)
    with app.app_context(), tenant_context(ss):
        person = db.session.scalars(select(Person).order_by(Person.id.desc())).first()
        pid, version, phone, education = person.id, person.row_version, person.phone, person.education
        person.phone = "13600000001"
        db.session.flush()
        person.education = "研究生" if education != "研究生" else "本科"
        db.session.commit()
        assert db.session.get(Person, pid).row_version == version + 1
    [event] = _events(app, "person", pid, since)
    assert event["before"] == {"phone": phone, "education": education, "row_version": version}
    assert set(event["after"]) == {"phone", "education", "row_version"}
    with app.app_context(), tenant_context(ss):
        person = db.session.get(Person, pid)
        person.phone, person.education = phone, education
        db.session.commit()


# -- labels instead of ids (history panel and 操作日志) ------------------------------------------------


def test_history_names_units_positions_and_people_instead_of_ids(app, demo, client):
    ss = demo["tenant_ids"]["shishi"]
    village, moved_to = _villages(app, ss)[:2]
    with app.app_context(), tenant_context(ss):
        names = {u.id: f"{u.name}（{u.code}）" for u in db.session.scalars(
            select(OrgUnit).where(OrgUnit.id.in_([village, moved_to])))}
    login(client, "ss_admin")
    pid = client.post("/api/v1/person/", json={"name": "标签甲", "id_number": _new_id_number(421),
                                               "org_unit": village}).get_json()["id"]
    resp = client.post("/api/v1/appointment/", json={"person": pid, "position_code": "XGY", "org_unit": village,
                                                     "start_date": "2025-01-01", "status": "active"})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    aid = resp.get_json()["id"]
    assert client.put(f"/api/v1/appointment/{aid}", json={"org_unit": moved_to, "row_version": 1}).status_code == 200
    html = client.get(f"/appointmentview/show/{aid}").get_data(as_text=True)
    panel = html[html.index('id="record-history"'):]
    assert f"工作单位</strong>：{names[village]} → {names[moved_to]}" in panel
    assert "人员</strong>：— → 标签甲" in panel
    assert "岗位代码</strong>：— → 村级计生社保协管员" in panel
    assert f"：{village} →" not in panel and f"→ {moved_to}<" not in panel

    # 操作日志: the same labels on the event's page, and the entity in Chinese on the list
    with app.app_context(), tenant_context(ss):
        event_id = db.session.scalar(select(AuditEvent.id).where(
            AuditEvent.entity == "appointment", AuditEvent.row_id == aid, AuditEvent.action == "update"))
    page = client.get(f"/auditeventview/show/{event_id}").get_data(as_text=True)
    changes = page[page.index('id="audit-event-changes"'):]
    assert "聘用记录" in changes and "工作单位" in changes
    assert names[village] in changes and names[moved_to] in changes
    listing = client.get("/auditeventview/list/?_flt_0_entity=appointment").get_data(as_text=True)
    assert "<td>聘用记录</td>" in listing
    _delete(client, f"/api/v1/appointment/{aid}")
    _delete(client, f"/api/v1/person/{pid}")


def test_a_deleted_or_foreign_target_shows_its_id_marked_deleted(app, demo, client):
    ids = demo["tenant_ids"]
    ss = ids["shishi"]
    village = _village(app, ss)
    login(client, "ss_admin")
    with app.app_context(), tenant_context(ss):
        parent = db.session.get(OrgUnit, village)
        temp = OrgUnit(code="LBLTMP01", name="临时小组", level="group", parent=parent)
        db.session.add(temp)
        db.session.commit()
        temp_id = temp.id
    pid = client.post("/api/v1/person/", json={"name": "标签乙", "id_number": _new_id_number(422),
                                               "org_unit": temp_id}).get_json()["id"]
    assert client.put(f"/api/v1/person/{pid}", json={"org_unit": village, "row_version": 1}).status_code == 200
    assert _delete(client, f"/api/v1/org_unit/{temp_id}").status_code == 200
    html = client.get(f"/personview/show/{pid}").get_data(as_text=True)
    assert f"{temp_id}（已删除） →" in html and "临时小组" not in html
    # a Guanling unit's id in a Shishi event (it cannot be referenced, but labels must not leak anyway)
    with app.app_context(), tenant_context(ids["guanling"]):
        gl_unit = db.session.scalars(select(OrgUnit).where(OrgUnit.level == "village")).first()
        gl_id, gl_name = gl_unit.id, gl_unit.name
    with app.app_context(), tenant_context(ss):
        db.session.add(AuditEvent(entity="person", row_id=pid, action="update", before={"org_unit_id": village},
                                  after={"org_unit_id": gl_id}, source="test"))
        db.session.commit()
        event_id = db.session.scalar(select(func.max(AuditEvent.id)).where(AuditEvent.source == "test"))
    page = client.get(f"/auditeventview/show/{event_id}").get_data(as_text=True)
    assert f"{gl_id}（已删除）" in page and gl_name not in page
    _delete(client, f"/api/v1/person/{pid}")


def test_history_shows_a_json_value_as_stored_instead_of_failing(app, demo):
    """A JSON column (scores, inputs …) in an event cannot be looked up as a reference: shown as written."""
    from types import SimpleNamespace

    from app.extensions import get_appbuilder

    event = SimpleNamespace(at=dt.datetime(2025, 3, 1, 8, 0), action="update", action_label="修改", user_id=None,
                            source="test", before={"notes": {"德": 80}}, after={"notes": {"德": 90}})
    with app.test_request_context(), tenant_context(demo["tenant_ids"]["shishi"]):
        view = next(v for v in get_appbuilder().baseviews if type(v).__name__ == "PersonView")
        rows = view.describe_events([event])
    change = rows[0]["changes"][0]
    assert "90" in str(change["after"]) and "80" in str(change["before"])

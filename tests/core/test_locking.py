"""Optimistic locking: two clerks editing one record never silently overwrite each other."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.idcard import make_id_number
from app.core.locking import EditConflict
from app.core.tenancy import tenant_context
from app.extensions import db
from app.orgs.models import OrgUnit
from app.staffing.models import Person
from support import login


@pytest.fixture
def person(app, demo) -> Iterator[dict[str, Any]]:
    """A fresh person in Shishi's first town (deleted afterwards), as plain values."""
    tenant_id = demo["tenant_ids"]["shishi"]
    with app.app_context(), tenant_context(tenant_id):
        village = db.session.scalars(select(OrgUnit).where(OrgUnit.path.startswith("/350581/350581001/"),
                                                           OrgUnit.level == "village")).first()
        assert village is not None
        p = Person(name="锁测试", id_number=make_id_number("350581", dt.date(1988, 5, 6), 401, False),
                   education="高中", phone="13800000001", org_unit=village)
        db.session.add(p)
        db.session.commit()
        values = {"id": p.id, "tenant_id": tenant_id, "name": p.name, "id_number": p.id_number,
                  "org_unit": str(village.id), "education": p.education}
    yield values
    with app.app_context(), tenant_context(tenant_id):
        row = db.session.get(Person, values["id"])
        if row is not None:
            db.session.delete(row)
            db.session.commit()


def _db_person(app, p: dict[str, Any]) -> Person:
    with app.app_context(), tenant_context(p["tenant_id"]):
        row = db.session.get(Person, p["id"])
        assert row is not None
        db.session.expunge(row)
        return row


def _form_version(html: str) -> str:
    tag = re.search(r'<input[^>]*name="row_version"[^>]*>', html)
    assert tag, "the edit form carries no row_version"
    value = re.search(r'value="(\d+)"', tag.group(0))
    assert value
    return value.group(1)


def _edit_form(p: dict[str, Any], version: str, phone: str) -> dict[str, str]:
    return {"name": p["name"], "id_number": p["id_number"], "education": p["education"], "phone": phone,
            "bank_card": "", "org_unit": p["org_unit"], "row_version": version}


def test_two_clerks_edit_one_person_second_gets_conflict_page(app, person):
    first, second = app.test_client(), app.test_client()
    login(first, "ss_admin")
    login(second, "ss_town")
    url = f"/personview/edit/{person['id']}"
    v_first = _form_version(first.get(url).get_data(as_text=True))
    v_second = _form_version(second.get(url).get_data(as_text=True))
    assert v_first == v_second == "1"

    resp = first.post(url, data=_edit_form(person, v_first, "13911111111"))
    assert resp.status_code == 302
    assert _db_person(app, person).row_version == 2

    html = second.post(url, data=_edit_form(person, v_second, "13922222222")).get_data(as_text=True)
    assert "保存冲突" in html and "未保存" in html
    assert 'class="theirs">13911111111<' in html  # the colleague's saved value
    assert 'class="mine">13922222222<' in html  # what this clerk typed
    assert "电话" in html  # Chinese field label
    assert f"/personview/edit/{person['id']}" in html  # reload link
    saved = _db_person(app, person)
    assert saved.phone == "13911111111" and saved.row_version == 2

    # After reloading, the second clerk edits the current version and saves.
    v_reloaded = _form_version(second.get(url).get_data(as_text=True))
    assert v_reloaded == "2"
    assert second.post(url, data=_edit_form(person, v_reloaded, "13922222222")).status_code == 302
    saved = _db_person(app, person)
    assert saved.phone == "13922222222" and saved.row_version == 3


def test_edit_form_without_row_version_is_refused(app, person, client):
    login(client, "ss_admin")
    data = _edit_form(person, "", "13933333333")
    del data["row_version"]
    html = client.post(f"/personview/edit/{person['id']}", data=data).get_data(as_text=True)
    assert "保存冲突" in html
    assert _db_person(app, person).phone == "13800000001"


def test_api_get_shows_row_version_and_put_increments_it(app, person, client):
    login(client, "ss_admin")
    url = f"/api/v1/person/{person['id']}"
    assert client.get(url).get_json()["result"]["row_version"] == 1
    resp = client.put(url, json={"phone": "13944444444", "row_version": 1})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert client.get(url).get_json()["result"]["row_version"] == 2
    listing = client.get("/api/v1/person/?q=(page_size:1)").get_json()
    assert "row_version" in listing["result"][0]


def test_stale_api_put_gets_409_with_both_versions(app, person, client):
    login(client, "ss_admin")
    url = f"/api/v1/person/{person['id']}"
    assert client.put(url, json={"phone": "13955555555", "row_version": 1}).status_code == 200
    resp = client.put(url, json={"phone": "13966666666", "row_version": 1})
    assert resp.status_code == 409
    body = resp.get_json()
    assert body["current_version"] == 2
    assert body["theirs"]["phone"] == "13955555555"
    assert body["yours"]["phone"] == "13966666666"
    assert "保存冲突" in body["message"]
    assert "*" in body["theirs"]["id_number"]  # masked even in a conflict answer
    assert _db_person(app, person).phone == "13955555555"


def test_api_put_without_row_version_is_422_and_changes_nothing(app, person, client):
    login(client, "ss_admin")
    resp = client.put(f"/api/v1/person/{person['id']}", json={"phone": "13977777777"})
    assert resp.status_code == 422
    assert "row_version" in resp.get_json()["message"]
    assert _db_person(app, person).phone == "13800000001"


def test_data_layer_refuses_a_stale_orm_write(app, person):
    """Services and jobs get the same protection as screens: a stale version is refused at flush."""
    with app.app_context(), tenant_context(person["tenant_id"]):
        row = db.session.get(Person, person["id"])
        row.phone = "13988888888"
        row.row_version = 0
        with pytest.raises(EditConflict):
            db.session.commit()
        db.session.rollback()
    assert _db_person(app, person).phone == "13800000001"


def test_two_sessions_that_loaded_the_same_version_cannot_both_save(app, person):
    """The version moves on with a compare-and-set, so the later of two concurrent saves fails."""
    with app.app_context(), tenant_context(person["tenant_id"]):
        with Session(db.engine, expire_on_commit=False) as one, Session(db.engine, expire_on_commit=False) as two:
            a = one.get(Person, person["id"])
            b = two.get(Person, person["id"])
            assert a.row_version == b.row_version == 1
            one.commit()  # end the read transactions (SQLite locks the file for a writer)
            two.commit()
            a.phone = "13900000011"
            b.phone = "13900000022"
            one.commit()
            with pytest.raises(EditConflict):
                two.commit()
            two.rollback()
    saved = _db_person(app, person)
    assert saved.phone == "13900000011" and saved.row_version == 2


# -- deletes are version-checked too ---------------------------------------------------------------


def _exists(app, p: dict[str, Any]) -> bool:
    with app.app_context(), tenant_context(p["tenant_id"]):
        return db.session.get(Person, p["id"]) is not None


def _delete_link(html: str, pid: int) -> str:
    found = re.search(rf"/personview/delete/{pid}\?row_version=(\d+)", html)
    assert found, "the list's delete button carries no row_version"
    return found.group(0)


def test_list_delete_buttons_carry_the_row_version(app, person, client):
    login(client, "ss_admin")
    html = client.get("/personview/list/?_flt_3_name=锁测试").get_data(as_text=True)
    assert _delete_link(html, person["id"]).endswith("row_version=1")


def test_stale_screen_delete_is_refused_and_the_row_stays(app, person):
    first, second = app.test_client(), app.test_client()
    login(first, "ss_admin")
    login(second, "ss_town")
    link = _delete_link(second.get("/personview/list/?_flt_3_name=锁测试").get_data(as_text=True), person["id"])
    # a colleague saves first
    v = _form_version(first.get(f"/personview/edit/{person['id']}").get_data(as_text=True))
    assert first.post(f"/personview/edit/{person['id']}", data=_edit_form(person, v, "13912121212")).status_code == 302
    resp = second.post(link, follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert "删除冲突" in html and "未删除" in html and "当前版本 2" in html
    assert _exists(app, person) and _db_person(app, person).phone == "13912121212"
    # without any version the screen refuses too (a stale page of an older release, a forged post)
    assert "删除冲突" in second.post(f"/personview/delete/{person['id']}", follow_redirects=True).get_data(as_text=True)
    assert _exists(app, person)
    # from the fresh list the delete goes through
    fresh = _delete_link(second.get("/personview/list/?_flt_3_name=锁测试").get_data(as_text=True), person["id"])
    assert fresh.endswith("row_version=2")
    assert second.post(fresh).status_code == 302
    assert not _exists(app, person)


def test_stale_api_delete_gets_409_and_the_row_stays(app, person, client):
    login(client, "ss_admin")
    url = f"/api/v1/person/{person['id']}"
    assert client.put(url, json={"phone": "13913131313", "row_version": 1}).status_code == 200
    resp = client.delete(f"{url}?row_version=1")
    assert resp.status_code == 409
    body = resp.get_json()
    assert "删除冲突" in body["message"] and body["current_version"] == 2
    assert body["theirs"]["phone"] == "13913131313" and "*" in body["theirs"]["id_number"]
    assert _exists(app, person)
    assert client.delete(f"{url}?row_version=abc").status_code == 422
    assert _exists(app, person)
    assert client.delete(f"{url}?row_version=2").status_code == 200
    assert not _exists(app, person)


def test_api_delete_without_row_version_is_422_and_deletes_nothing(app, person, client):
    """As with PUT: a blind delete could remove a colleague's change unseen, so the version is required."""
    login(client, "ss_admin")
    response = client.delete(f"/api/v1/person/{person['id']}")
    assert response.status_code == 422
    assert "row_version" in response.get_json()["message"]
    assert _exists(app, person)

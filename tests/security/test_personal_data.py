"""A person's full 身份证号, bank card and phone reach only users who may write that person.

Reading screens show the ID number masked for everyone; phone and bank card follow the rule there. The
full ID number appears only in the edit form and in write answers, again only for who may write.

Two Shishi people are seeded, one in the town of ``ss_town`` (in the village of ``ss_village``) and one
in another town. Every person-bearing screen and API answer is searched for their full numbers, for
every demo role: present exactly where the rule allows, masked (or absent) everywhere else.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import delete, select

from app.core.idcard import make_id_number, mask_id_number
from app.core.tenancy import tenant_context
from app.extensions import db
from app.orgs.models import OrgUnit
from app.staffing.models import Appointment, Person, Position
from app.staffing.pii import mask_bank_card, mask_phone
from support import login

USERS = ("ss_admin", "ss_town", "ss_village", "fj_viewer", "gl_admin")
SHISHI_READERS = ("ss_admin", "ss_town", "ss_village", "fj_viewer")
PEOPLE = {
    "A": {"name": "隐私甲", "village": "350581001001", "phone": "13912340001", "bank_card": "6217000011112222333",
          "birth": dt.date(1979, 4, 5), "seq": 487},
    "B": {"name": "隐私乙", "village": "350581002001", "phone": "13912340002", "bank_card": "6217000011114444555",
          "birth": dt.date(1978, 6, 7), "seq": 488},
}
MAY_SEE = {("ss_admin", "A"), ("ss_admin", "B"), ("ss_town", "A")}
"""The rule for the demo: the county admin everyone of the county, the town clerk its own town only."""
IN_CAPTURE_SCOPE = {("ss_town", "A"), ("ss_village", "A")}
"""Whose export holds the person at all (exports are cut to the capture scope; others have none)."""


@pytest.fixture(scope="module")
def seeded(app, demo) -> Iterator[dict[str, dict[str, Any]]]:
    ss = demo["tenant_ids"]["shishi"]
    people: dict[str, dict[str, Any]] = {}
    with app.app_context():
        with tenant_context(ss):
            position = db.session.scalars(select(Position).order_by(Position.id)).first()
            assert position is not None
            for key, spec in PEOPLE.items():
                unit = db.session.scalars(select(OrgUnit).where(OrgUnit.code == spec["village"])).one()
                number = make_id_number("350581", spec["birth"], spec["seq"], male=True)
                person = Person(name=spec["name"], id_number=number, phone=spec["phone"],
                                bank_card=spec["bank_card"], education="高中", org_unit=unit)
                appointment = Appointment(person=person, position_code=position.code, org_unit=unit,
                                          start_date=dt.date(2024, 1, 1), status="active")
                db.session.add_all([person, appointment])
                db.session.commit()
                people[key] = {**spec, "id": person.id, "id_number": number, "appointment": appointment.id}
        db.session.remove()
    yield people
    with app.app_context(), db.engine.begin() as conn:
        ids = [p["id"] for p in people.values()]
        conn.execute(delete(Appointment.__table__).where(Appointment.__table__.c.person_id.in_(ids)))
        conn.execute(delete(Person.__table__).where(Person.__table__.c.id.in_(ids)))


def _full(p: dict[str, Any]) -> dict[str, str]:
    return {"id_number": p["id_number"], "bank_card": p["bank_card"], "phone": p["phone"]}


def _masked(p: dict[str, Any]) -> dict[str, str]:
    return {"id_number": mask_id_number(p["id_number"]), "bank_card": mask_bank_card(p["bank_card"]),
            "phone": mask_phone(p["phone"])}


def _text(resp: Any) -> str:
    if resp.mimetype.endswith("spreadsheetml.sheet"):
        book = load_workbook(io.BytesIO(resp.data))
        return "\n".join(str(v) for row in book.active.iter_rows(values_only=True) for v in row if v is not None)
    return resp.get_data(as_text=True)


def _screens(p: dict[str, Any]) -> list[tuple[str, str, tuple[str, ...], tuple[str, ...]]]:
    """(screen, url, personal fields it shows as the rule says, fields it always shows masked)."""
    name, pk, appointment = p["name"], p["id"], p["appointment"]
    api_filter = f"(filters:!((col:name,opr:eq,value:{name})))"
    return [
        ("人员列表", f"/personview/list/?_flt_2_name={name}", (), ("id_number",)),
        ("人员详情", f"/personview/show/{pk}", ("bank_card", "phone"), ("id_number",)),
        ("导出 Excel", f"/personview/export_xlsx/?_flt_2_name={name}", (), ("id_number",)),
        ("API 列表", f"/api/v1/person/?q={api_filter}", (), ("id_number",)),
        ("API 详情", f"/api/v1/person/{pk}", ("bank_card", "phone"), ("id_number",)),
        ("聘用记录列表", "/appointmentview/list/?_flt_0_status=active", (), ()),
        ("聘用记录详情", f"/appointmentview/show/{appointment}", (), ()),
        ("聘用记录 API", f"/api/v1/appointment/{appointment}", (), ()),
    ]


@pytest.fixture(scope="module")
def clients(app, seeded) -> dict[str, Any]:
    return {user: login(app.test_client(), user) for user in USERS}


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("key", sorted(PEOPLE))
def test_full_numbers_only_where_the_user_may_write_the_person(app, seeded, clients, user, key):
    person = seeded[key]
    client = clients[user]
    may_see = (user, key) in MAY_SEE
    for screen, url, by_rule, always_masked in _screens(person):
        resp = client.get(url)
        body = _text(resp)
        readable = user in SHISHI_READERS and (screen != "导出 Excel" or user in ("ss_admin", "fj_viewer")
                                                or (user, key) in IN_CAPTURE_SCOPE)
        for field, value in _full(person).items():
            expected = may_see and field in by_rule
            assert (value in body) == expected, f"{user} {screen} {field}: full value shown={value in body}"
        if readable:
            masked = [*always_masked, *([] if may_see else by_rule)]
            for field in masked:
                assert _masked(person)[field] in body, f"{user} {screen} {field}: masked value missing"
        if user in SHISHI_READERS and screen not in ("导出 Excel",):
            assert resp.status_code == 200, f"{user} {screen}: {resp.status_code}"


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("key", sorted(PEOPLE))
def test_edit_page_only_within_the_scope(app, seeded, clients, user, key):
    person = seeded[key]
    resp = clients[user].get(f"/personview/edit/{person['id']}")
    body = resp.get_data(as_text=True)
    may_see = (user, key) in MAY_SEE
    for value in _full(person).values():
        assert (value in body) == may_see
    if may_see:
        assert resp.status_code == 200
    elif user == "ss_town":  # may edit people, but not this one: told why, no form
        assert resp.status_code == 403
        assert "不在您的辖区内" in body and 'name="id_number"' not in body
    else:
        assert resp.status_code in (302, 403, 404)


def _version(app, demo, pk: int) -> int:
    with app.app_context(), tenant_context(demo["tenant_ids"]["shishi"]):
        version = db.session.get(Person, pk).row_version
        db.session.remove()
        return version


@pytest.mark.parametrize(("user", "key"), [("ss_town", "A"), ("ss_town", "B"), ("ss_admin", "B")])
def test_write_answers_hold_full_numbers_only_within_the_scope(app, demo, seeded, clients, user, key):
    person = seeded[key]
    resp = clients[user].put(f"/api/v1/person/{person['id']}",
                             json={"education": "大专", "row_version": _version(app, demo, person["id"])})
    body = resp.get_data(as_text=True)
    may_see = (user, key) in MAY_SEE
    assert resp.status_code == (200 if may_see else 403), body
    for value in _full(person).values():
        assert (value in body) == may_see


def test_history_on_the_show_page_is_masked_like_the_page(app, seeded, clients):
    """The creation event lists the phone and bank card: a village worker sees them masked."""
    person = seeded["A"]
    body = clients["ss_village"].get(f"/personview/show/{person['id']}").get_data(as_text=True)
    assert "修改历史" in body
    assert body.count(mask_phone(person["phone"])) >= 2  # the field and the history's creation row
    admin = clients["ss_admin"].get(f"/personview/show/{person['id']}").get_data(as_text=True)
    assert admin.count(person["phone"]) >= 2

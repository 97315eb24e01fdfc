"""A clerk may not move a row out of its area, nor create one outside it: API, screens, form records.

The APIs and screens are enumerated from the running app: every tenant-scoped model placed in the
org tree (``__scope_org_attr__`` or ``scope_org_ids``) whose API or screen the role may write is
tried by setting the placing relationship (``"org_unit": id``, as screens and API clients do), and
the foreign-key column where the schema exposes it.
"""

from __future__ import annotations

from typing import Any

import pytest
from lxml import html as lxml_html
from sqlalchemy import inspect, select
from sqlalchemy.orm.interfaces import MANYTOONE

from app.core.models import TenantScoped
from app.core.registry import VIEW_SPECS
from app.core.tenancy import tenant_context
from app.extensions import db
from app.orgs.models import OrgUnit
from app.staffing.models import Person
from support import login

TOWN, OTHER_TOWN = "350581001", "350581002"
# A valid new row per API resource, placed at ``unit`` (an org unit id); ``ctx`` has a person id.
NEW_ROW: dict[str, Any] = {
    "org_unit": lambda unit, ctx: {"code": "SW-NEW-1", "name": "越界新村", "level": "village", "parent": unit},
    "population_fact": lambda unit, ctx: {"org_unit": unit, "period": "2039", "households": 7},
    "person": lambda unit, ctx: {"name": "越界新人", "id_number": "350581199001011236", "org_unit": unit},
    "appointment": lambda unit, ctx: {"person": ctx["person"], "position_code": "XGY", "org_unit": unit,
                                      "start_date": "2030-01-01", "status": "active"},
}


def _role_writes(view: Any, role: str) -> bool:
    return any(spec.view is type(view) and role in spec.writers for spec in VIEW_SPECS)


def _placed(view: Any) -> type | None:
    model = getattr(getattr(view, "datamodel", None), "obj", None)
    if model is None or not issubclass(model, TenantScoped):
        return None
    return model if getattr(model, "__scope_org_attr__", None) or hasattr(model, "scope_org_ids") else None


def _placement(model: type) -> tuple[str, str]:
    """(relationship, column) that put a row in the org tree (an org unit's: its parent)."""
    column = getattr(model, "__scope_org_attr__", None) or "parent_id"
    for rel in inspect(model).relationships:
        if rel.direction is MANYTOONE and any(c.key == column for c in rel.local_columns):
            return rel.key, column
    raise AssertionError(f"{model.__name__}: no relationship for {column}")


def _views(app, kind: str, role: str) -> list[Any]:
    from flask_appbuilder import ModelRestApi, ModelView

    base = ModelRestApi if kind == "api" else ModelView
    return [v for v in app.appbuilder.baseviews if isinstance(v, base) and _placed(v) and _role_writes(v, role)]


def _unit_ids(app, tenant_id: int) -> dict[str, Any]:
    with app.app_context(), tenant_context(tenant_id):
        rows = db.session.execute(select(OrgUnit.id, OrgUnit.code, OrgUnit.path, OrgUnit.level,
                                         OrgUnit.parent_id)).all()
        db.session.remove()
    return {r.code: r for r in rows}


def _areas(units: dict[str, Any], role: str) -> tuple[str, dict[str, list[int]]]:
    """The user's area path and, per level, units outside it (another town; a village worker: also a sibling)."""
    town = units[TOWN].path
    villages = sorted((u for u in units.values() if u.level == "village" and u.path.startswith(town)),
                      key=lambda u: u.code)
    own = town if role == "town_clerk" else villages[0].path
    outside: dict[str, list[int]] = {}
    for u in sorted(units.values(), key=lambda u: u.code):
        if not u.path.startswith(own) and not own.startswith(u.path):
            outside.setdefault(u.level, []).append(u.id)
    return own, outside


def _row_in(app, model: type, own: str, column: str, tenant_id: int) -> Any:
    """A row of ``model`` placed strictly inside ``own`` (an org unit: a unit below it)."""
    with app.app_context(), tenant_context(tenant_id):
        units = select(OrgUnit.id).where(OrgUnit.path.startswith(own))
        row = db.session.execute(select(model.__table__).where(model.__table__.c[column].in_(units))
                                 .order_by(model.__table__.c.id)).mappings().first()
        db.session.remove()
    assert row is not None, f"no {model.__name__} row inside {own}"
    return dict(row)


def _stored(app, model: type, row_id: int) -> dict[str, Any] | None:
    """The row as stored (Core, every tenant: what the database holds, not what a session thinks)."""
    with app.app_context():
        row = db.session.execute(select(model.__table__).where(model.__table__.c.id == row_id)).mappings().first()
        db.session.remove()
    return dict(row) if row else None


def _level_of(units: dict[str, Any], unit_id: int) -> str:
    return next(u.level for u in units.values() if u.id == unit_id)


def _count(app, model: type) -> int:
    from sqlalchemy import func

    with app.app_context():
        value = db.session.execute(select(func.count()).select_from(model.__table__)).scalar_one()
        db.session.remove()
    return int(value)


@pytest.fixture
def units(app, demo):
    return _unit_ids(app, demo["tenant_ids"]["shishi"])


@pytest.mark.parametrize(("username", "role"), [("ss_town", "town_clerk"), ("ss_village", "village_worker")])
def test_api_cannot_move_a_row_out_of_the_area_or_create_one_outside(app, demo, client, units, username, role):
    tenant_id = demo["tenant_ids"]["shishi"]
    own, outside = _areas(units, role)
    apis = _views(app, "api", role)
    assert apis, role
    login(client, username)
    person = _row_in(app, Person, own, "org_unit_id", tenant_id)["id"]
    for api in apis:
        model = api.datamodel.obj
        rel, column = _placement(model)
        base = f"/api/v1/{api.resource_name}"
        row = _row_in(app, model, own, column, tenant_id)
        target = outside[_level_of(units, row[column])][0]
        keep = {"row_version": row["row_version"]} if "row_version" in row else {}
        # control: the same request naming the row's own unit is accepted
        same = client.put(f"{base}/{row['id']}", json={rel: row[column], **keep})
        assert same.status_code == 200, (base, same.get_data(as_text=True))
        before = _stored(app, model, row["id"])
        tries = [{rel: target, **keep}] + ([{column: target, **keep}] if column in api.edit_columns else [])
        for body in tries:
            resp = client.put(f"{base}/{row['id']}", json=body)
            assert resp.status_code in (403, 422), (base, body, resp.status_code)
            assert _stored(app, model, row["id"]) == before, (base, body)
        assert api.resource_name in NEW_ROW, f"give NEW_ROW a valid new {api.resource_name}"
        new_level = "town" if model is OrgUnit else _level_of(units, row[column])
        count = _count(app, model)
        resp = client.post(f"{base}/", json=NEW_ROW[api.resource_name](outside[new_level][0], {"person": person}))
        assert resp.status_code in (403, 422), (base, resp.get_data(as_text=True))
        assert _count(app, model) == count, base


def _edit_form(client, url: str) -> dict[str, str]:
    page = client.get(url)
    assert page.status_code == 200, url
    doc = lxml_html.fromstring(page.get_data(as_text=True))
    forms = [f for f in doc.forms if f.method.upper() == "POST" and f.inputs]
    return dict(forms[0].form_values())


@pytest.mark.parametrize(("username", "role"), [("ss_town", "town_clerk"), ("ss_village", "village_worker")])
def test_edit_screens_cannot_move_a_row_out_of_the_area(app, demo, client, units, username, role):
    tenant_id = demo["tenant_ids"]["shishi"]
    own, outside = _areas(units, role)
    views = [v for v in _views(app, "view", role) if _placement(v.datamodel.obj)[0] in v.edit_columns]
    assert views, role
    login(client, username)
    for view in views:
        model = view.datamodel.obj
        rel, column = _placement(model)
        row = _row_in(app, model, own, column, tenant_id)
        url = f"{view.route_base}/edit/{row['id']}"
        data = _edit_form(client, url)
        assert data.get(rel) == str(row[column]), (url, data)
        before = _stored(app, model, row["id"])
        data[rel] = str(outside[_level_of(units, row[column])][0])
        resp = client.post(url, data=data, follow_redirects=True)
        assert resp.status_code in (200, 403), url
        assert "无权修改辖区以外的数据" in resp.get_data(as_text=True), url
        assert _stored(app, model, row["id"]) == before, url


MONTHLY = "rkjs_monthly"
MONTHLY_DATA = {"registered_pop": 3000, "resident_pop": 3200, "married_women": 600, "births": 4,
                "births_in_policy": 4, "deaths": 2}


def test_form_record_api_cannot_move_a_record_to_another_town(app, demo, client, units):
    from app.forms import services
    from app.forms.models import FormRecord

    tenant_id = demo["tenant_ids"]["shishi"]
    own, outside = _areas(units, "town_clerk")
    village = next(u.id for u in sorted(units.values(), key=lambda u: u.code)
                   if u.level == "village" and u.path.startswith(own))
    with app.app_context(), tenant_context(tenant_id):
        record = services.create_record(MONTHLY, {"org_unit_id": village, "period": "2039-01", "data": MONTHLY_DATA})
        db.session.commit()
        rid = record.id
        db.session.remove()
    try:
        login(client, "ss_town")
        before = _stored(app, FormRecord, rid)
        resp = client.put(f"/api/v1/forms/{MONTHLY}/records/{rid}",
                          json={"row_version": 1, "org_unit_id": outside["village"][0], "data": {"deaths": 3}})
        assert resp.status_code == 403, resp.get_data(as_text=True)
        assert _stored(app, FormRecord, rid) == before
        ok = client.put(f"/api/v1/forms/{MONTHLY}/records/{rid}", json={"row_version": 1, "data": {"deaths": 3}})
        assert ok.status_code == 200, ok.get_data(as_text=True)  # the same edit inside the town is accepted
    finally:
        with app.app_context(), tenant_context(tenant_id):
            db.session.query(FormRecord).filter(FormRecord.id == rid).delete()
            db.session.commit()
            db.session.remove()


def test_a_move_set_only_through_the_relationship_is_refused_in_the_data_layer(app, demo, units):
    """Jobs and imports write through the ORM as well: the guard itself reads the relationship's new target."""
    from app.core.errors import ScopeDenied
    from app.core.tenancy import Scope, scope_context

    tenant_id = demo["tenant_ids"]["shishi"]
    own, outside = _areas(units, "town_clerk")
    row = _row_in(app, Person, own, "org_unit_id", tenant_id)
    clerk = Scope(tenant_id=tenant_id, user_id=None, capture_path=own, roles=("town_clerk",))
    with app.app_context(), scope_context(clerk):
        person = db.session.get(Person, row["id"])
        person.org_unit = db.session.get(OrgUnit, outside["village"][0])
        assert person.org_unit_id == row["org_unit_id"]  # the column still holds the old unit
        with pytest.raises(ScopeDenied, match="辖区以外"):
            db.session.flush()
        db.session.rollback()
        db.session.remove()
    assert _stored(app, Person, row["id"]) == row


@pytest.mark.parametrize("username", ["ss_admin", "ss_town"])
def test_an_unknown_org_unit_filter_is_an_empty_list_not_an_error(app, demo, client, username):
    login(client, username)
    for url in (f"/forms/{MONTHLY}/?org_unit=999999999", f"/forms/{MONTHLY}/?org_unit_id=999999999",
                f"/api/v1/forms/{MONTHLY}/records?org_unit_id=999999999",
                "/personview/list/?_flt_0_org_unit=999999999", "/populationfactview/list/?_flt_0_org_unit=999999999"):
        resp = client.get(url)
        assert resp.status_code in (200, 422), (url, resp.status_code)


def test_a_clerk_without_a_valid_unit_reads_nothing_and_may_not_write(app, demo):
    from app.core.errors import ScopeDenied
    from app.core.tenancy import scope_context
    from app.security.context import scope_for
    from app.security.models import CountyUser

    with app.app_context():
        clerk = db.session.scalar(select(CountyUser).where(CountyUser.username == "ss_town"))
        real_unit = clerk.scope_org_id
        clerk.scope_org_id = None
        try:
            scope = scope_for(clerk, None)
            assert scope is not None and not scope.has_capture_unit and not scope.county_wide_writer
            with scope_context(scope):
                assert db.session.scalars(select(Person).join(OrgUnit).where(
                    OrgUnit.path.startswith(scope.capture_path))).first() is None  # valid text on PostgreSQL too
                person = db.session.scalars(select(Person)).first()
                person.phone = "13900000001"
                with pytest.raises(ScopeDenied, match="没有有效的所属辖区"):
                    db.session.flush()
        finally:
            db.session.rollback()
            db.session.remove()
        assert real_unit is not None

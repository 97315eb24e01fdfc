"""Tenant isolation, enumerated from the app's registered screens and APIs.

Every FAB view or API whose model is tenant-scoped is found at run time, so a screen
added later is covered without editing this file (the write tests need one harmless
change per API, and fail loudly until it is given).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sqlalchemy import func, select

from app.core.models import TenantScoped
from app.extensions import db
from support import is_postgres, login

# One harmless change per scoped API resource, used to prove writes are refused.
HARMLESS_CHANGE: dict[str, dict[str, Any]] = {
    "org_unit": {"name": "改名测试"},
    "population_fact": {"households": 1},
    "position": {"name": "改名测试"},
    "person": {"phone": "13900000000"},
    "appointment": {"status": "ended"},
}


def _scoped(app, kind: str) -> list[Any]:
    from flask_appbuilder import ModelRestApi, ModelView

    base = ModelView if kind == "view" else ModelRestApi
    found = []
    for view in app.appbuilder.baseviews:
        model = getattr(getattr(view, "datamodel", None), "obj", None)
        if isinstance(view, base) and model is not None and issubclass(model, TenantScoped):
            found.append(view)
    return found


def _row_of(app, model, tenant_id: int, where=None) -> int:
    with app.app_context():
        table = model.__table__
        stmt = select(table.c.id).where(table.c.tenant_id == tenant_id).order_by(table.c.id)
        if where is not None:
            stmt = stmt.where(where(table))
        row_id = db.session.execute(stmt).scalars().first()
        assert row_id is not None, f"no {model.__name__} row for tenant {tenant_id}"
        return row_id


def _snapshot(app, model, row_id: int) -> dict[str, Any] | None:
    with app.app_context():
        row = db.session.execute(select(model.__table__).where(model.__table__.c.id == row_id)).mappings().first()
        return dict(row) if row else None


def _count(app, model, tenant_id: int) -> int:
    with app.app_context():
        t = model.__table__
        return db.session.execute(select(func.count()).select_from(t).where(t.c.tenant_id == tenant_id)).scalar_one()


def _writable(view) -> bool:
    """Declared writers (app/core/registry.py) make a screen or API writable; none = read-only."""
    from app.core.registry import VIEW_SPECS

    return any(spec.view is type(view) and spec.writers for spec in VIEW_SPECS)


def _readable(view, role: str) -> bool:
    """Declared readers (app/core/registry.py); the audit log, for one, is the county admin's only."""
    from app.core.registry import VIEW_SPECS

    return any(spec.view is type(view) and role in spec.readers for spec in VIEW_SPECS)


REFUSED = {302, 403, 404, 405}  # redirected by FAB's access check, forbidden, not found, no such method


def test_every_scoped_model_has_a_screen_and_an_api(app):
    views = {v.datamodel.obj for v in _scoped(app, "view")}
    apis = {v.datamodel.obj for v in _scoped(app, "api")}
    assert len(views) >= 5 and views == apis
    assert set(HARMLESS_CHANGE) == {v.resource_name for v in _scoped(app, "api") if _writable(v)}


@pytest.fixture
def ids(demo):
    return demo["tenant_ids"]


def _views(app):
    return _scoped(app, "view")


def _apis(app):
    return _scoped(app, "api")


def test_lists_show_only_own_tenant(app, ids, client):
    login(client, "ss_admin")
    for view in _views(app):
        model = view.datamodel.obj
        html = client.get(f"{view.route_base}/list/?_l_=en&psize_{type(view).__name__}=1").get_data(as_text=True)
        match = re.search(r"Record Count:</strong>\s*(\d+)", html)
        shown = int(match.group(1)) if match else 0
        assert shown == _count(app, model, ids["shishi"]), type(view).__name__


def test_screens_refuse_other_tenants_rows(app, ids, client):
    login(client, "ss_admin")
    for view in _views(app):
        model = view.datamodel.obj
        other = _row_of(app, model, ids["guanling"])
        before = _snapshot(app, model, other)
        name = type(view).__name__
        refused = {404} if _writable(view) else REFUSED
        assert client.get(f"{view.route_base}/show/{other}").status_code == 404, name
        assert client.get(f"{view.route_base}/edit/{other}").status_code in refused, name
        assert client.post(f"{view.route_base}/edit/{other}", data={}).status_code in refused, name
        # a delete by GET is refused before the row is looked up (redirect with a flash): POST only
        assert client.get(f"{view.route_base}/delete/{other}").status_code in refused | {302}, name
        assert client.post(f"{view.route_base}/delete/{other}").status_code in refused, name
        assert _snapshot(app, model, other) == before, name


def test_apis_refuse_other_tenants_rows(app, ids, client):
    login(client, "ss_admin")
    for api in _apis(app):
        model = api.datamodel.obj
        base = f"/api/v1/{api.resource_name}"
        other = _row_of(app, model, ids["guanling"])
        before = _snapshot(app, model, other)
        listing = client.get(f"{base}/?q=(page_size:1)").get_json()
        assert listing["count"] == _count(app, model, ids["shishi"]), base
        assert client.get(f"{base}/{other}").status_code == 404, base
        change = HARMLESS_CHANGE.get(api.resource_name, {"id": other})
        refused = {404} if _writable(api) else REFUSED
        assert client.put(f"{base}/{other}", json=change).status_code in refused, base
        assert client.delete(f"{base}/{other}").status_code in refused, base
        assert _snapshot(app, model, other) == before, base


def test_api_rejects_reference_to_other_tenants_row(app, ids, client):
    """Posting another tenant's org unit id must not create junk or leak: a clear 422."""
    from app.orgs.models import OrgUnit, PopulationFact

    login(client, "ss_admin")
    other_org = _row_of(app, OrgUnit, ids["guanling"])
    before = _count(app, PopulationFact, ids["shishi"])
    resp = client.post("/api/v1/population_fact/", json={"org_unit": other_org, "period": "2030",
                                                         "households": 5})
    assert resp.status_code == 422
    assert "不属于本县" in json.dumps(resp.get_json(), ensure_ascii=False)
    assert _count(app, PopulationFact, ids["shishi"]) == before


def test_town_clerk_cannot_write_outside_the_town(app, ids, client):
    from app.orgs.models import OrgUnit

    login(client, "ss_town")
    outside = _row_of(app, OrgUnit, ids["shishi"], where=lambda t: t.c.code == "350581002")
    inside = _row_of(app, OrgUnit, ids["shishi"], where=lambda t: t.c.code == "350581001001")
    for api in filter(_writable, _apis(app)):
        model = api.datamodel.obj
        base = f"/api/v1/{api.resource_name}"
        org_col = "id" if model is OrgUnit else getattr(model, "__scope_org_attr__", None)
        if org_col is None:  # tenant-wide configuration (positions): clerks may not write at all
            row = _row_of(app, model, ids["shishi"])
        else:
            row = _row_of(app, model, ids["shishi"],
                          where=lambda t, c=org_col: t.c[c].in_(select(OrgUnit.__table__.c.id).where(
                              OrgUnit.__table__.c.path.startswith("/350581/350581002/"))))
        before = _snapshot(app, model, row)
        resp = client.put(f"{base}/{row}", json=HARMLESS_CHANGE[api.resource_name])
        assert resp.status_code == 403, (base, resp.status_code)
        assert _snapshot(app, model, row) == before, base
    # adding a village under another town is refused, under the clerk's own town accepted
    resp = client.post("/api/v1/org_unit/", json={"code": "T-OUT-1", "name": "外镇新村", "level": "village",
                                                  "parent": outside})
    assert resp.status_code == 403
    resp = client.post("/api/v1/population_fact/", json={"org_unit": inside, "period": "2031", "households": 7})
    assert resp.status_code == 201, resp.get_data(as_text=True)


def test_province_viewer_cannot_write_anything(app, ids, client):
    login(client, "fj_viewer")
    # other tests load copies of Shishi in the same region: pick Shishi explicitly, never by default
    assert client.post(f"/tenant/switch/{ids['shishi']}").status_code in (200, 302)
    for api in _apis(app):
        model = api.datamodel.obj
        base = f"/api/v1/{api.resource_name}"
        own = _row_of(app, model, ids["shishi"])
        before = _snapshot(app, model, own)
        change = HARMLESS_CHANGE.get(api.resource_name, {"id": own})
        refused = {403} if _writable(api) else REFUSED
        assert client.get(f"{base}/{own}").status_code == (200 if _readable(api, "province_viewer") else 403), base
        assert client.put(f"{base}/{own}", json=change).status_code in refused, base
        assert client.delete(f"{base}/{own}").status_code in refused, base
        assert client.post(f"{base}/", json=change).status_code in refused, base
        assert _snapshot(app, model, own) == before, base
    for view in _views(app):
        model = view.datamodel.obj
        own = _row_of(app, model, ids["shishi"])
        before = _snapshot(app, model, own)
        client.post(f"{view.route_base}/delete/{own}")
        client.post(f"{view.route_base}/edit/{own}", data={})
        assert _snapshot(app, model, own) == before, type(view).__name__


def test_province_viewer_sees_only_own_region(app, ids, client):
    login(client, "fj_viewer")
    assert client.post(f"/tenant/switch/{ids['guanling']}").status_code == 404
    html = client.get("/overview/").get_data(as_text=True)
    assert "石狮市" in html and "关岭" not in html


def test_data_layer_fails_closed_without_tenant(app, demo):
    from app.orgs.models import OrgUnit

    with app.app_context():
        assert db.session.scalars(select(OrgUnit)).first() is None


@pytest.mark.skipif(not is_postgres(), reason="row-level security exists on PostgreSQL only")
def test_row_level_security_is_the_second_wall(app, ids):
    """With the ORM filter switched off, PostgreSQL's policy still returns only the tenant's rows."""
    from sqlalchemy import text

    from app.core.tenancy import tenant_context

    with app.app_context():
        db.session.execute(text(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'countydesk_rls_probe') "
            "THEN CREATE ROLE countydesk_rls_probe NOLOGIN; END IF; END $$"))
        db.session.execute(text("GRANT USAGE ON SCHEMA public TO countydesk_rls_probe"))
        db.session.execute(text("GRANT SELECT ON ALL TABLES IN SCHEMA public TO countydesk_rls_probe"))
        db.session.commit()
        scoped = [m for m in db.Model.registry.mappers if issubclass(m.class_, TenantScoped)]
        for mapper in scoped:
            table = mapper.class_.__table__
            rls = db.session.execute(text("SELECT relrowsecurity AND relforcerowsecurity FROM pg_class "
                                          "WHERE relname = :t"), {"t": table.name}).scalar_one()
            assert rls, f"{table.name} has no row-level security"
        with tenant_context(ids["shishi"]):
            db.session.execute(text("SET LOCAL ROLE countydesk_rls_probe"))
            for mapper in scoped:
                stmt = select(mapper.class_.tenant_id).distinct()
                seen = set(db.session.execute(stmt, execution_options={"all_tenants": True}).scalars())
                assert seen <= {ids["shishi"]}, mapper.class_.__name__
            db.session.rollback()

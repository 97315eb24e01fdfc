"""Cross-site requests change nothing: every state-changing route of the screens needs the CSRF token,
deletes and row actions refuse GET, and ``/api/`` refuses the session cookie (a JWT only).

The routes are read from ``app.url_map``: a route added later is covered without touching this file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.routing import IntegerConverter, Rule

from app.core.tenancy import tenant_context
from app.errors import CSRF_REFUSED
from app.extensions import db, get_appbuilder
from support import database_digest, login

MUTATING = ("POST", "PUT", "PATCH", "DELETE")
TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _rules(app, api: bool) -> list[tuple[Rule, str]]:
    found = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.rule.startswith("/api/") != api or rule.endpoint == "static":
            continue
        found += [(rule, method) for method in MUTATING if method in (rule.methods or ())]
    return found


def _view_of(endpoint: str) -> Any:
    blueprint = endpoint.rpartition(".")[0]
    return next((v for v in get_appbuilder().baseviews if getattr(v, "endpoint", None) == blueprint), None)


def _first_pk(view: Any, tenant_id: int) -> Any:
    """An existing row of the view's model (the county's own when the model is per county)."""
    model = getattr(getattr(view, "datamodel", None), "obj", None)
    if model is None:
        return None
    with tenant_context(tenant_id):
        item = db.session.scalars(select(model).limit(1)).first()
        return None if item is None else view.datamodel.get_pk_value(item)


def _known_ids(tenant_id: int) -> dict[str, Any]:
    from app.forms.models import FormRecord
    from app.workflows.models import WorkflowInstance

    with tenant_context(tenant_id):
        return {"instance_id": db.session.scalar(select(WorkflowInstance.id).limit(1)) or 1,
                "rid": db.session.scalar(select(FormRecord.id).limit(1)) or 1,
                "tenant_id": tenant_id}


def _url(app, rule: Rule, tenant_id: int) -> str:
    """The rule with its parameters filled by real rows of the county where one exists."""
    with app.test_request_context():
        view = _view_of(rule.endpoint)
        known = _known_ids(tenant_id)
        values: dict[str, Any] = {}
        for arg in rule.arguments:
            if arg == "pk":
                values[arg] = _first_pk(view, tenant_id) or 1
            elif arg == "name":  # a row action's name: a real one, so only the CSRF check can stop it
                values[arg] = next(iter(getattr(view, "actions", {}) or {"none": None}))
            elif arg in known:
                values[arg] = known[arg]
            elif arg == "code":
                values[arg] = "population" if "import" in rule.rule else "recruitment"
            else:
                is_int = isinstance(rule._converters.get(arg), IntegerConverter)
                values[arg] = 1 if is_int else "x"
        db.session.remove()
        return rule.build(values, append_unknown=False)[1]


def _token(client) -> str:
    found = TOKEN.search(client.get("/staffingquotaview/list/").get_data(as_text=True))
    assert found, "the quota list carries no CSRF token"
    return found.group(1)


def test_every_screen_write_without_a_token_is_refused_and_changes_nothing(app, demo, csrf_on):
    shishi = demo["tenant_ids"]["shishi"]
    client = login(app.test_client(), "ss_admin", jwt=False)
    rules = _rules(app, api=False)
    assert len(rules) > 50 and any(r.rule == "/login/" for r, _m in rules)
    before = database_digest(app, shishi)
    assert int(before["person"].rsplit(":", 1)[1]) > 0  # the digest sees the county's rows
    for rule, method in rules:
        url = _url(app, rule, shishi)
        resp = client.open(url, method=method, data={"period": "2025-02", "code": "recruitment"})
        assert resp.status_code == 400, f"{method} {url}: {resp.status_code}"
        assert CSRF_REFUSED in resp.get_data(as_text=True), url
    assert database_digest(app, shishi) == before


NAMED = {
    "/workflows/start": {"code": "recruitment", "id_number": "350581199001011234", "data_position_code": "XGY"},
    "/workflows/bulk": {"code": "recruitment", "org_code": "350581001", "action": "town_pass"},
    "/staffingquota/recompute/": {"period": "2025-02"},
    "/formula_editor/save": {"formula": "9", "effective_from": "2025-01-01"},
    "/appraisal/scores/": {"period": "2025-05"},
}


@pytest.mark.parametrize("path", sorted(NAMED))
def test_the_probed_routes_refuse_a_cross_site_post(app, demo, csrf_on, path):
    from app.core.audit_models import AuditEvent

    shishi = demo["tenant_ids"]["shishi"]
    client = login(app.test_client(), "ss_admin", jwt=False)
    form = dict(NAMED[path])
    with app.app_context(), tenant_context(shishi):
        if path == "/formula_editor/save":
            form["position_id"] = str(_first_pk(_view_by_name("PositionView"), shishi))
        events = db.session.query(AuditEvent).count()
    before = database_digest(app, shishi)
    resp = client.post(path, data=form, headers={"Origin": "https://evil.example", "Referer": "https://evil.example/"})
    assert resp.status_code == 400 and CSRF_REFUSED in resp.get_data(as_text=True)
    with app.app_context(), tenant_context(shishi):
        assert db.session.query(AuditEvent).count() == events
    assert database_digest(app, shishi) == before


def _view_by_name(name: str) -> Any:
    return next(v for v in get_appbuilder().baseviews if type(v).__name__ == name)


@pytest.fixture
def open_case(app, demo) -> Iterator[int]:
    """A recruitment case the village clerk started (CSRF off, as before the fixture), removed afterwards."""
    from sqlalchemy import delete

    from app.workflows.models import WorkflowInstance, WorkflowNotice, WorkflowStep, WorkflowVote

    village = login(app.test_client(), "ss_village", jwt=False)
    resp = village.post("/workflows/start", data={"code": "recruitment", "id_number": CASE_ID_NUMBER,
                                                  "data_position_code": "XGY"})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    instance_id = int(re.search(r"/case/(\d+)", resp.headers["Location"]).group(1))
    yield instance_id
    with app.app_context(), db.engine.begin() as conn:
        for model in (WorkflowNotice, WorkflowVote, WorkflowStep):
            conn.execute(delete(model.__table__).where(model.__table__.c.instance_id == instance_id))
        conn.execute(delete(WorkflowInstance.__table__).where(WorkflowInstance.__table__.c.id == instance_id))


CASE_ID_NUMBER = "350581198203028452"  # a person of the demo village clerk's village


def test_a_case_action_without_a_token_leaves_the_case_as_it_was(app, demo, open_case, csrf_on):
    from app.workflows.models import WorkflowInstance

    shishi = demo["tenant_ids"]["shishi"]

    def state() -> tuple[str, int, int]:
        with app.app_context(), tenant_context(shishi):
            found = db.session.get(WorkflowInstance, open_case)
            return found.state, found.row_version, found.step_seq

    village = login(app.test_client(), "ss_village", jwt=False)
    before, digest = state(), database_digest(app, shishi)
    assert "推荐上报" in village.get(f"/workflows/case/{open_case}").get_data(as_text=True)
    resp = village.post(f"/workflows/case/{open_case}/act", data={"action": "recommend"})
    assert resp.status_code == 400 and CSRF_REFUSED in resp.get_data(as_text=True)
    assert state() == before and database_digest(app, shishi) == digest
    token = TOKEN.search(village.get(f"/workflows/case/{open_case}").get_data(as_text=True)).group(1)
    assert village.post(f"/workflows/case/{open_case}/act",
                        data={"action": "recommend", "csrf_token": token}).status_code == 302
    assert state() != before  # with the page's token the same click goes through


def test_with_the_page_token_the_same_post_reaches_the_screen(app, demo, csrf_on):
    client = login(app.test_client(), "ss_admin", jwt=False)
    token = _token(client)
    resp = client.post("/staffingquota/recompute/", data={"period": "2025-13", "csrf_token": token})
    assert resp.status_code == 400 and CSRF_REFUSED not in resp.get_data(as_text=True)  # the period check answered


def test_a_get_to_any_delete_or_row_action_deletes_nothing(app, demo, csrf_on):
    shishi = demo["tenant_ids"]["shishi"]
    client = login(app.test_client(), "ss_admin", jwt=False)
    rules = [r for r in app.url_map.iter_rules()
             if "GET" in (r.methods or ()) and ("/delete/" in r.rule or "/action/" in r.rule)
             and not r.rule.startswith("/api/")]
    assert any(r.rule == "/positionview/delete/<pk>" for r in rules)
    before = database_digest(app, shishi)
    for rule in rules:
        url = _url(app, rule, shishi)
        resp = client.get(url)
        assert resp.status_code in (302, 403, 404), f"GET {url}: {resp.status_code}"
    assert database_digest(app, shishi) == before


def test_the_api_refuses_the_session_cookie_on_every_write(app, demo):
    shishi = demo["tenant_ids"]["shishi"]
    client = login(app.test_client(), "ss_admin", jwt=False)
    rules = [(r, m) for r, m in _rules(app, api=True) if r.rule != "/api/v1/security/login"]
    assert any("attachments" in r.rule for r, _m in rules)
    before = database_digest(app, shishi)
    for rule, method in rules:
        url = _url(app, rule, shishi)
        resp = client.open(url, method=method, json={"name": "跨站", "period": "2025", "row_version": 1})
        assert resp.status_code == 401, f"{method} {url}: {resp.status_code}"
    upload = f"/api/v1/forms/recruitment/records/{_known_ids_in(app, shishi)['rid']}/attachments/scan"
    resp = client.post(upload, data={"file": (b"%PDF-1.4 x", "x.pdf")}, content_type="multipart/form-data")
    assert resp.status_code == 401
    assert database_digest(app, shishi) == before


def _known_ids_in(app, tenant_id: int) -> dict[str, Any]:
    with app.app_context():
        return _known_ids(tenant_id)


def test_the_api_still_answers_a_bearer_token(app, demo):
    client = login(app.test_client(), "ss_admin")  # cookie and JWT
    assert client.get("/api/v1/person/?q=(page_size:1)").status_code == 200
    client.environ_base.pop("HTTP_AUTHORIZATION")
    assert client.get("/api/v1/person/?q=(page_size:1)").status_code == 401  # the cookie alone: no

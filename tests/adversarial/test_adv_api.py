"""Hostile values through the core screens and the REST API: refused in Chinese, the county unchanged.

The paths are read from the app (every write API and every add form of a tenant screen), so a screen
or API added later is fed the same classes: control characters, over-long text, full-width digits and
impossible periods, numbers beyond the database's integers, duplicates, ids and pages beyond any row.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask_appbuilder import ModelView
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from app.core.input_rules import column_rules, screen_labels
from app.core.tenancy import tenant_context
from app.core.views import TenantModelApi, TenantModelView
from app.extensions import db
from app.orgs.models import OrgUnit, PopulationFact
from app.staffing.models import Person
from support import database_digest, login, stored_unit_name

BUDGET = 10.0  # seconds per case: generous, a hang is minutes
CHINESE = re.compile(r"[\u4e00-\u9fff]")
TRACEBACK = ("Traceback", "IntegrityError", "OverflowError", "DataError", "sqlite3", "psycopg", "Fatal error")
HUGE = "99999999999999999999"
CONTROL = "甲\x00乙"


def _apis(app: Any) -> list[TenantModelApi]:
    return [v for v in app.appbuilder.baseviews if isinstance(v, TenantModelApi)]


def _write_apis(app: Any) -> list[TenantModelApi]:
    return [v for v in _apis(app) if "post" in (v.include_route_methods or {"post"})
            and "post" not in (v.exclude_route_methods or set())]


def _screens(app: Any) -> list[TenantModelView]:
    return [v for v in app.appbuilder.baseviews if isinstance(v, TenantModelView) and v.add_columns]


def _text_rules(view: Any) -> list[Any]:
    model = view.datamodel.obj
    labels = view.label_columns if isinstance(view, ModelView) else screen_labels(model)
    return [r for r in column_rules(model, view.add_columns, labels) if r.kind == "text"]


def _clean(answer: Any) -> str:
    text = answer.get_data(as_text=True)
    assert answer.status_code < 500, text[:500]
    for leak in TRACEBACK:
        assert leak not in text, f"{leak} in the answer: {text[:500]}"
    return text


def _messages(answer: Any) -> dict[str, list[str]]:
    body = answer.get_json()
    assert isinstance(body, dict) and isinstance(body.get("message"), dict), body
    return body["message"]


@pytest.fixture
def admin(app, demo, client) -> Iterator[Any]:
    login(client, "ss_admin")
    tenant_id = demo["tenant_ids"]["shishi"]
    before = database_digest(app, tenant_id)
    yield client
    assert database_digest(app, tenant_id) == before, "a refused input changed the county's data"


def _timed(call: Any, *args: Any, **kwargs: Any) -> Any:
    started = time.monotonic()
    answer = call(*args, **kwargs)
    assert time.monotonic() - started < BUDGET
    return answer


def test_the_suite_sees_the_write_paths(app):
    names = {v.resource_name for v in _write_apis(app)}
    assert {"org_unit", "population_fact", "person", "appointment"} <= names
    assert {type(v).__name__ for v in _screens(app)} >= {"OrgUnitView", "PopulationFactView", "PersonView"}


def test_every_api_text_field_refuses_control_characters_naming_the_field(app, admin):
    checked = 0
    for api in _write_apis(app):
        for rule in _text_rules(api):
            answer = _timed(admin.post, f"/api/v1/{api.resource_name}/", json={rule.name: CONTROL})
            _clean(answer)
            assert answer.status_code == 422
            message = " ".join(_messages(answer)[rule.name])
            assert f"「{rule.label}」" in message and "U+0000" in message, (api.resource_name, message)
            checked += 1
    assert checked >= 8


def test_every_api_text_field_refuses_more_than_its_column_holds(app, admin):
    for api in _write_apis(app):
        for rule in _text_rules(api):
            if rule.max_length is None:
                continue
            answer = _timed(admin.post, f"/api/v1/{api.resource_name}/", json={rule.name: "长" * (rule.max_length + 1)})
            _clean(answer)
            assert answer.status_code == 422
            assert CHINESE.search(" ".join(_messages(answer)[rule.name]))


def test_every_api_integer_field_refuses_numbers_beyond_the_database(app, admin):
    checked = 0
    for api in _write_apis(app):
        model = api.datamodel.obj
        for rule in column_rules(model, api.add_columns, screen_labels(model)):
            if rule.kind != "int":
                continue
            answer = _timed(admin.post, f"/api/v1/{api.resource_name}/", json={rule.name: 10**12})
            _clean(answer)
            assert answer.status_code == 422
            assert "太大" in " ".join(_messages(answer)[rule.name])
            checked += 1
    assert checked >= 6  # the population counts, terms of positions


def test_api_required_fields_are_asked_for_in_chinese(app, admin):
    for api in _write_apis(app):
        answer = admin.post(f"/api/v1/{api.resource_name}/", json={})
        _clean(answer)
        if answer.status_code == 422:
            for texts in _messages(answer).values():
                assert all(CHINESE.search(t) for t in texts), texts
                assert not any("Missing data" in t for t in texts)


@pytest.mark.parametrize("period", ["２０２５", "2025-13", "2025-00", "2025\n", "0000", "2025-3", "20251",
                                    "２０２５-03"])
def test_population_periods_are_ascii_and_real(app, admin, period):
    unit_id = _a_unit(app)
    answer = admin.post("/api/v1/population_fact/", json={"org_unit": unit_id, "period": period, "households": 3})
    _clean(answer)
    assert answer.status_code == 422
    assert "期间" in " ".join(_messages(answer)["period"])


def test_population_period_on_the_screen_is_checked_the_same_way(app, admin):
    answer = admin.post("/populationfactview/add", data={"org_unit": str(_a_unit(app)), "period": "２０２５",
                                                         "households": "3"})
    assert "「期间」含有全角数字" in _clean(answer)


def test_full_width_digits_where_a_number_is_meant_are_read_as_numbers(app, demo, client):
    login(client, "ss_admin")
    fact_id = _a_fact(app, demo["tenant_ids"]["shishi"])
    with app.app_context(), tenant_context(demo["tenant_ids"]["shishi"]):
        fact = db.session.get(PopulationFact, fact_id)
        households = fact.households
    try:
        answer = client.put(f"/api/v1/population_fact/{fact_id}", json={"households": "１２"})
        _clean(answer)
        assert answer.status_code == 200, answer.get_json()
        with app.app_context(), tenant_context(demo["tenant_ids"]["shishi"]):
            assert db.session.get(PopulationFact, fact_id).households == 12
    finally:
        client.put(f"/api/v1/population_fact/{fact_id}", json={"households": households})


def test_a_duplicate_population_row_is_a_409_naming_the_fields(app, demo, admin):
    with app.app_context(), tenant_context(demo["tenant_ids"]["shishi"]):
        fact = db.session.scalars(select(PopulationFact).order_by(PopulationFact.id)).first()
        unit_id, period = fact.org_unit_id, fact.period
    body = {"org_unit": unit_id, "period": period, "households": 1}
    answer = _timed(admin.post, "/api/v1/population_fact/", json=body)
    text = _clean(answer)
    assert answer.status_code == 409
    assert "「期间」" in answer.get_json()["message"] and "重复" in answer.get_json()["message"], text


def test_a_duplicate_id_number_is_refused_on_the_api_and_the_screen(app, demo, admin):
    with app.app_context(), tenant_context(demo["tenant_ids"]["shishi"]):
        person = db.session.scalars(select(Person).order_by(Person.id)).first()
        body = {"name": "重复人", "id_number": person.id_number, "org_unit": person.org_unit_id}
    answer = admin.post("/api/v1/person/", json=body)
    _clean(answer)
    assert answer.status_code == 409 and "「身份证号」" in answer.get_json()["message"]
    page = admin.post("/personview/add", data={**body, "org_unit": str(body["org_unit"])}, follow_redirects=True)
    assert "「身份证号」与已有记录重复" in _clean(page)


def test_every_screen_text_field_refuses_control_characters(app, admin):
    checked = 0
    for view in _screens(app):
        for rule in _text_rules(view):
            answer = _timed(admin.post, f"{view.route_base}/add", data={rule.name: "甲\x01乙"})
            if answer.status_code in (403, 404):  # the national admin's screens; a read-only screen has no add
                continue
            assert f"「{rule.label}」含有不可见的控制字符（U+0001）" in _clean(answer), (view.route_base, rule.name)
            checked += 1
    assert checked >= 8


def test_huge_ids_and_pages_are_404_not_500(app, admin):
    for api in _apis(app):
        base = f"/api/v1/{api.resource_name}"
        for url in (f"{base}/{HUGE}", f"{base}/?q=(page:{HUGE})", f"{base}/?q=(page:-3)"):
            answer = _timed(admin.get, url)
            _clean(answer)
            assert answer.status_code == 404, (url, answer.get_json())
            assert CHINESE.search(answer.get_json()["message"])
    for view in app.appbuilder.baseviews:
        if isinstance(view, TenantModelView):
            page = f"{view.route_base}/list/?page_{type(view).__name__}={HUGE}"
            for url in (f"{view.route_base}/show/{HUGE}", page):
                answer = _timed(admin.get, url)
                _clean(answer)
                assert answer.status_code in (403, 404), url  # 403: the national admin's screens
                assert CHINESE.search(answer.get_data(as_text=True))


def test_a_related_id_beyond_the_database_is_a_422(app, admin):
    answer = admin.post("/api/v1/population_fact/", json={"org_unit": 10**20, "period": "2031", "households": 1})
    _clean(answer)
    assert answer.status_code in (404, 422)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=40).filter(
    lambda s: any((ord(c) < 32 and c not in "\t\n\r") or 0x7F <= ord(c) < 0xA0 for c in s)))
def test_fuzzed_names_with_controls_never_reach_the_database(app, admin, name):
    answer = admin.post("/api/v1/org_unit/", json={"code": "adv_fuzz", "name": name, "level": "village",
                                                   "parent": _a_unit(app, "town")})
    _clean(answer)
    assert answer.status_code == 422 and "控制字符" in " ".join(_messages(answer)["name"])


def test_an_export_of_stored_control_characters_answers_200(app, demo, client):
    from io import BytesIO

    from openpyxl import load_workbook

    login(client, "ss_admin")
    # control characters an old database may hold (PostgreSQL stores no NUL at all)
    with stored_unit_name(app, demo["tenant_ids"]["shishi"], "旧\x01库\x0b名"):
        for url in ("/orgunitview/export_xlsx/", "/personview/export_xlsx/", "/populationfactview/export_xlsx/"):
            answer = _timed(client.get, url)
            assert answer.status_code == 200, url
            cells = {c for row in load_workbook(BytesIO(answer.data)).active.iter_rows(values_only=True) for c in row}
            if url.startswith("/orgunit"):
                assert "旧\ufffd库\ufffd名" in cells


def _a_unit(app: Any, level: str = "village") -> int:
    from app.core.models import Tenant

    with app.app_context():
        tenant_id = db.session.scalars(select(Tenant.id).where(Tenant.slug == "shishi")).one()
        with tenant_context(tenant_id):
            return db.session.scalars(select(OrgUnit.id).where(OrgUnit.level == level).order_by(OrgUnit.id)).first()


def _a_fact(app: Any, tenant_id: int) -> int:
    with app.app_context(), tenant_context(tenant_id):
        return db.session.scalars(select(PopulationFact.id).order_by(PopulationFact.id)).first()


@pytest.mark.parametrize("education", ["大学", "本科 ", "Bachelor", "高中\x00"])
def test_an_education_outside_domain_8_is_refused_on_the_api_and_the_screen(app, demo, admin, education):
    """DOMAIN §8: 小学 … 研究生 exactly; 大学 stored beside 本科 would fail every eligibility comparison."""
    with app.app_context(), tenant_context(demo["tenant_ids"]["shishi"]):
        person = db.session.scalars(select(Person).order_by(Person.id)).first()
        pk, version, unit = person.id, person.row_version, person.org_unit_id
    answer = _timed(admin.put, f"/api/v1/person/{pk}", json={"education": education, "row_version": version})
    _clean(answer)
    assert answer.status_code == 422 and "学历" in " ".join(_messages(answer)["education"])
    page = admin.post(f"/personview/edit/{pk}", data={"name": "留住的输入", "education": education,
                                                      "org_unit": str(unit), "row_version": str(version)})
    text = _clean(page)
    refusal = "含有不可见的控制字符" if "\x00" in education else "应为 小学、初中、高中、中专、大专、本科、研究生 之一"
    assert page.status_code == 200 and refusal in text
    assert "留住的输入" in text  # what the clerk typed is still in the form

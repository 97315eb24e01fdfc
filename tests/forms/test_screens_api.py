"""Generic form screens and the forms API through the test client, as the demo users."""

from __future__ import annotations

import re

import pytest
from forms_support import MONTHLY, SS_TOWN, THIS_MONTH, acting, monthly_data, unit, villages

from app.extensions import db
from app.forms import services
from app.forms.models import FormRecord
from support import login

TOKEN_RE = re.compile(r"^/forms/")


def _village_ids(app, demo, town: str = SS_TOWN) -> list[int]:
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        return [v.id for v in villages(town)]


def _other_town_village(app, demo) -> int:
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        other = next(u for u in unit("350581").children if u.code != SS_TOWN)
        return villages(other.code)[0].id


def _form_post(village_id: int, period: str, **data) -> dict[str, str]:
    fields = {k: str(v) for k, v in monthly_data(**data).items()}
    return {"org_unit_id": str(village_id), "period": period, **fields}


@pytest.fixture
def cleanup(app, demo):
    yield
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        db.session.query(FormRecord).delete()
        db.session.commit()


def test_ss8_village_worker_files_the_monthly_report_for_own_village(app, demo, client, cleanup):
    own = _village_ids(app, demo)[0]
    login(client, "ss_village")
    index = client.get("/forms/")
    assert index.status_code == 200 and "人口计划生育信息报告单" in index.text
    page = client.get(f"/forms/{MONTHLY}/add")
    assert page.status_code == 200 and "其中政策内出生人数" in page.text
    resp = client.post(f"/forms/{MONTHLY}/add", data=_form_post(own, THIS_MONTH))
    assert resp.status_code == 302, resp.text
    shown = client.get(resp.headers["Location"])
    assert shown.status_code == 200 and "修改历史" in shown.text
    listing = client.get(f"/forms/{MONTHLY}/")
    assert THIS_MONTH in listing.text and "共 1 条" in listing.text
    other = _village_ids(app, demo)[1]
    refused = client.post(f"/forms/{MONTHLY}/add", data=_form_post(other, THIS_MONTH))
    assert refused.status_code == 403 and "无权修改辖区以外的数据" in refused.text


def test_rule_and_field_errors_show_on_the_screen(app, demo, client, cleanup):
    own = _village_ids(app, demo)[0]
    login(client, "ss_admin")
    resp = client.post(f"/forms/{MONTHLY}/add", data={**_form_post(own, "2025-04", births=1, births_in_policy=2),
                                                      "deaths": "-3"})
    assert resp.status_code == 422
    assert "其中政策内出生人数不能大于出生人数" in resp.text or "不能小于 0" in resp.text
    assert "不能小于 0" in resp.text


def test_town_clerk_cannot_write_outside_its_town(app, demo, client, cleanup):
    login(client, "ss_town")
    resp = client.post(f"/forms/{MONTHLY}/add", data=_form_post(_other_town_village(app, demo), THIS_MONTH))
    assert "无权修改辖区以外的数据" in resp.text
    assert resp.status_code == 403
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        assert db.session.query(FormRecord).count() == 0


def test_html_in_a_text_field_is_escaped_in_list_and_show(app, demo, client, cleanup):
    own = _village_ids(app, demo)[0]
    login(client, "ss_admin")
    evil = "<script>alert('x')</script>"
    resp = client.post("/forms/work_record/add", data={"org_unit_id": str(own), "record_date": "2025-03-02",
                                                       "duty_area": "计划生育", "content": evil, "place": evil})
    assert resp.status_code == 302, resp.text
    for url in ("/forms/work_record/", resp.headers["Location"]):
        text = client.get(url).text
        assert evil not in text and "&lt;script&gt;" in text


def test_formula_injection_is_stored_verbatim_through_the_api(app, demo, client, cleanup):
    own = _village_ids(app, demo)[0]
    login(client, "ss_admin")
    cell = "=cmd|' /C calc'!A0"
    resp = client.post("/api/v1/forms/work_record/records", json={"org_unit_id": own, "data": {
        "record_date": "2025-03-02", "duty_area": "计划生育", "content": cell}})
    assert resp.status_code == 201, resp.text
    rid = resp.json["id"]
    assert client.get(f"/api/v1/forms/work_record/records/{rid}").json["result"]["data"]["content"] == cell


def test_edit_conflict_page_shows_both_versions(app, demo, client, cleanup):
    own = _village_ids(app, demo)[0]
    login(client, "ss_admin")
    location = client.post(f"/forms/{MONTHLY}/add", data=_form_post(own, "2025-05")).headers["Location"]
    rid = int(location.rstrip("/").split("/")[-1])
    first = client.post(f"/forms/{MONTHLY}/{rid}/edit", data={**_form_post(own, "2025-05", births=7,
                                                                              births_in_policy=6), "row_version": "1"})
    assert first.status_code == 302
    second = client.post(f"/forms/{MONTHLY}/{rid}/edit", data={**_form_post(own, "2025-05", births=9,
                                                                               births_in_policy=9), "row_version": "1"})
    assert second.status_code == 409 and "保存冲突" in second.text
    assert '<td class="theirs">7</td>' in second.text and '<td class="mine">9</td>' in second.text


def test_submit_and_delete_by_post(app, demo, client, cleanup):
    own = _village_ids(app, demo)[0]
    login(client, "ss_village")
    location = client.post(f"/forms/{MONTHLY}/add", data=_form_post(own, THIS_MONTH)).headers["Location"]
    rid = int(location.rstrip("/").split("/")[-1])
    assert client.get(f"/forms/{MONTHLY}/{rid}/delete").status_code == 405
    assert client.post(f"/forms/{MONTHLY}/{rid}/submit", data={"row_version": "1"}).status_code == 302
    assert "已提交" in client.get(location).text
    assert client.post(f"/forms/{MONTHLY}/{rid}/delete", data={"row_version": "2"}).status_code == 302
    assert client.get(location).status_code == 404


def test_province_viewer_reads_but_cannot_write(app, demo, client, cleanup):
    own = _village_ids(app, demo)[0]
    login(client, "fj_viewer")
    assert client.get("/forms/").status_code == 200
    resp = client.post(f"/forms/{MONTHLY}/add", data=_form_post(own, "2025-03"))
    assert resp.status_code in (302, 403) and "/login" in resp.headers.get("Location", "/login")
    api = client.post(f"/api/v1/forms/{MONTHLY}/records", json={"org_unit_id": own, "period": "2025-03",
                                                                "data": monthly_data()})
    assert api.status_code in (401, 403)


def test_guanling_never_sees_shishi_records(app, demo, client, cleanup):
    own = _village_ids(app, demo)[0]
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        rid = services.create_record(MONTHLY, {"org_unit_id": own, "period": "2025-03", "data": monthly_data()}).id
        db.session.commit()
    login(client, "gl_admin")
    assert "人口计划生育信息报告单" not in client.get("/forms/").text
    for url in (f"/forms/{MONTHLY}/", f"/forms/{MONTHLY}/{rid}", f"/forms/{MONTHLY}/{rid}/edit",
                f"/api/v1/forms/{MONTHLY}", f"/api/v1/forms/{MONTHLY}/records",
                f"/api/v1/forms/{MONTHLY}/records/{rid}"):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/forms/{MONTHLY}/{rid}/delete", data={"row_version": "1"}).status_code == 404
    assert client.post(f"/forms/{MONTHLY}/{rid}/edit", data=_form_post(own, "2025-03")).status_code == 404
    assert client.put(f"/api/v1/forms/{MONTHLY}/records/{rid}",
                      json={"row_version": 1, "data": {"births": 1}}).status_code == 404
    assert client.delete(f"/api/v1/forms/{MONTHLY}/records/{rid}").status_code == 404
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        assert services.get_record(MONTHLY, rid).data["births"] == 4


def test_api_crud_validation_and_conflict(app, demo, client, cleanup):
    own = _village_ids(app, demo)[0]
    login(client, "ss_admin")
    definition = client.get(f"/api/v1/forms/{MONTHLY}")
    assert definition.status_code == 200 and definition.json["result"]["periodicity"] == "monthly"
    bad = client.post(f"/api/v1/forms/{MONTHLY}/records", json={"org_unit_id": own, "period": "2025-03",
                                                                "data": monthly_data(births="许多")})
    assert bad.status_code == 422 and bad.json["errors"]["births"] == ["应为整数"]
    made = client.post(f"/api/v1/forms/{MONTHLY}/records", json={"org_unit_id": own, "period": "2025-03",
                                                                 "data": monthly_data()})
    assert made.status_code == 201
    rid = made.json["id"]
    listed = client.get(f"/api/v1/forms/{MONTHLY}/records?period=2025-03")
    assert listed.json["count"] == "1" and listed.json["result"][0]["id"] == rid
    missing = client.put(f"/api/v1/forms/{MONTHLY}/records/{rid}", json={"data": {"deaths": 3}})
    assert missing.status_code == 422
    ok = client.put(f"/api/v1/forms/{MONTHLY}/records/{rid}", json={"row_version": 1, "data": {"deaths": 3}})
    assert ok.status_code == 200 and ok.json["result"]["row_version"] == 2
    stale = client.put(f"/api/v1/forms/{MONTHLY}/records/{rid}", json={"row_version": 1, "data": {"deaths": 8}})
    assert stale.status_code == 409 and stale.json["theirs"]["deaths"] == 3 and stale.json["yours"] == {"deaths": 8}
    assert client.delete(f"/api/v1/forms/{MONTHLY}/records/{rid}?row_version=2").status_code == 200
    assert client.get(f"/api/v1/forms/{MONTHLY}/records/{rid}").status_code == 404


def test_openapi_documents_the_forms_api(app, demo, client):
    login(client, "ss_admin")
    spec = client.get("/api/v1/_openapi").json
    assert "/api/v1/forms/{code}/records" in spec["paths"] and "FormRecordSchema" in spec["components"]["schemas"]


def test_keyset_pagination_and_capped_count(app, demo, cleanup):
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        own = villages(SS_TOWN)[0].id
        for month in range(1, 8):
            services.create_record(MONTHLY, {"org_unit_id": own, "period": f"2024-{month:02d}", "data": monthly_data()})
        first = services.list_records(MONTHLY, limit=3)
        second = services.list_records(MONTHLY, after=first.next_after, limit=3)
        back = services.list_records(MONTHLY, before=second.prev_before, limit=3)
        assert [r.period for r in first.records] == ["2024-07", "2024-06", "2024-05"]
        assert [r.period for r in second.records] == ["2024-04", "2024-03", "2024-02"]
        assert [r.id for r in back.records] == [r.id for r in first.records]
        assert first.total == 7 and not first.total_capped
        town = services.list_records(MONTHLY, org_unit_id=unit(SS_TOWN).id)
        assert town.total == 7
        other = next(u for u in unit("350581").children if u.code != SS_TOWN)
        assert services.list_records(MONTHLY, org_unit_id=other.id).total == 0

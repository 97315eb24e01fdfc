"""The formula editor screen: live check, preview on the county's own units, save as a new rule version."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from app.core.tenancy import tenant_context
from app.extensions import db
from app.orgs.models import OrgUnit
from app.security.services import add_user
from app.staffing.models import Position
from app.staffing.quota_models import PositionRule, StaffingQuota
from app.staffing.quotas import recompute_quotas
from support import PASSWORD, login

SS1 = "MAX(1, CEILING(计生常住人口 / 1500))"


def _versions(app, tenant_id: int, code: str) -> list[tuple[int, str]]:
    with app.app_context(), tenant_context(tenant_id):
        return [(r.version, r.formula) for r in db.session.scalars(
            select(PositionRule).join(Position, Position.id == PositionRule.position_id)
            .where(Position.code == code, PositionRule.kind == "quota").order_by(PositionRule.version))]


def test_ss1_preview_equals_the_recompute_on_shishi_villages(app, demo, client):
    tenant_id = demo["tenant_ids"]["shishi"]
    with app.app_context(), tenant_context(tenant_id):
        recompute_quotas("2025")
        quotas = dict(db.session.execute(
            select(OrgUnit.code, StaffingQuota.quota).join(OrgUnit, OrgUnit.id == StaffingQuota.org_unit_id)
            .join(Position, Position.id == StaffingQuota.position_id)
            .where(StaffingQuota.period == "2025", Position.code == "XGY", OrgUnit.level == "village")).all())
    login(client, "ss_admin")
    assert "定额公式编辑" in client.get("/formula_editor/").get_data(as_text=True)
    data = client.get("/formula_editor/preview", query_string={"formula": SS1, "level": "village", "n": 30,
                                                               "period": "2025"}).get_json()
    assert data["ok"] and data["period"] == "2025" and len(data["rows"]) == 30
    for row in data["rows"]:
        assert not row["error"], row
        assert row["value"] == quotas[row["code"]], row["code"]
        assert [label for label, _value in row["inputs"]] == ["计生常住人口"]
    assert len({row["value"] for row in data["rows"]}) > 1  # real, differing populations


def test_check_reports_a_syntax_error_in_chinese_with_its_position(app, demo, client):
    login(client, "ss_admin")
    resp = client.get("/formula_editor/check", query_string={"formula": "MAX(1, CEILING(计生常住人口 / ))"})
    assert resp.status_code == 200
    data = resp.get_json()
    assert data["ok"] is False and data["line"] == 1 and data["column"] >= 20
    assert data["message"].startswith("第1行第") and "^" in data["caret"]
    unknown = client.get("/formula_editor/check", query_string={"formula": "人品 * 2"}).get_json()
    assert unknown["ok"] is False and "人品" in unknown["message"] and unknown["column"] == 1
    ok = client.get("/formula_editor/check", query_string={"formula": SS1}).get_json()
    assert ok["ok"] is True and ok["variables"] == ["resident_pop"]
    bad_preview = client.get("/formula_editor/preview", query_string={"formula": "1 +", "level": "village"}).get_json()
    assert bad_preview["ok"] is False and bad_preview["message"].startswith("第1行")


def test_save_refuses_an_invalid_formula_with_the_same_message_and_saves_nothing(app, demo, client):
    tenant_id = demo["tenant_ids"]["shishi"]
    before = _versions(app, tenant_id, "XGY")
    with app.app_context(), tenant_context(tenant_id):
        xgy = db.session.scalar(select(Position.id).where(Position.code == "XGY"))
    login(client, "ss_admin")
    bad = "MAX(1, CEILING(计生常住人口 / ))"
    message = client.get("/formula_editor/check", query_string={"formula": bad}).get_json()["message"]
    resp = client.post("/formula_editor/save", data={"position_id": xgy, "formula": bad,
                                                     "effective_from": "2030-01-01", "level": "village"})
    assert resp.status_code == 422 and message in resp.get_data(as_text=True)
    assert _versions(app, tenant_id, "XGY") == before


def test_save_adds_a_version_from_the_date(app, client, copy_tenant):
    from app.tenantio.loader import load_tenant_folder

    with app.app_context():
        tenant_id = load_tenant_folder(copy_tenant("shishi", "ss_editor")).tenant_id
        add_user("ss_editor_admin", role="county_admin", password=PASSWORD, tenant_slug="ss_editor")
        with tenant_context(tenant_id):
            xgy = db.session.scalar(select(Position.id).where(Position.code == "XGY"))
    login(client, "ss_editor_admin")
    resp = client.post("/formula_editor/save", data={
        "position_id": xgy, "formula": "MAX(1, CEILING(计生常住人口 / 1000))", "effective_from": "2026-01-01"})
    assert resp.status_code == 302
    assert _versions(app, tenant_id, "XGY")[-1] == (2, "MAX(1, CEILING(计生常住人口 / 1000))")
    with app.app_context(), tenant_context(tenant_id):
        rule = db.session.scalar(select(PositionRule).where(PositionRule.version == 2))
        assert rule.effective_from == dt.date(2026, 1, 1)


def test_preview_never_shows_another_countys_units(app, demo, client):
    login(client, "gl_admin")
    for level in ("village", "town", "county"):
        data = client.get("/formula_editor/preview", query_string={"formula": "1", "level": level, "n": 50}).get_json()
        assert data["ok"] and data["rows"]
        assert all(row["code"].startswith("520424") for row in data["rows"]), level
    with app.app_context(), tenant_context(demo["tenant_ids"]["guanling"]):
        towns = db.session.scalar(select(func.count()).select_from(OrgUnit).where(OrgUnit.level == "town"))
    data = client.get("/formula_editor/preview", query_string={"formula": "1", "level": "town", "n": 50}).get_json()
    assert len(data["rows"]) == towns


@pytest.mark.parametrize("user", ["ss_town", "fj_viewer"])
def test_editor_is_for_county_admins_only(app, demo, client, user):
    login(client, user)
    for path in ("/formula_editor/", f"/formula_editor/check?formula={SS1}",
                 "/formula_editor/preview?formula=1&level=village"):
        assert client.get(path).status_code in (302, 403), path
    resp = client.post("/formula_editor/save", data={"position_id": 1, "formula": "9", "effective_from": "2020-01-01"})
    assert resp.status_code in (302, 403)


def test_save_cannot_reach_another_countys_position(app, demo, client):
    guanling = demo["tenant_ids"]["guanling"]
    before = _versions(app, guanling, "RKZR")
    with app.app_context(), tenant_context(guanling):
        rkzr = db.session.scalar(select(Position.id).where(Position.code == "RKZR"))
    login(client, "ss_admin")
    resp = client.post("/formula_editor/save",
                       data={"position_id": rkzr, "formula": "9", "effective_from": "2020-01-01"})
    assert resp.status_code == 400 and "岗位不存在" in resp.get_data(as_text=True)
    assert _versions(app, guanling, "RKZR") == before

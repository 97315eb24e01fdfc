"""Bad rules through every door that stores one (API, screen, formula editor), and a bad rule already stored.

A rule that cannot be computed must be refused where it is typed, naming the field in Chinese; one
that an old database already holds must not stop the county's recompute: it is reported, the rest
is computed.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import time

import pytest
from sqlalchemy import func, select

from app.core.tenancy import tenant_context
from app.extensions import db
from app.orgs.models import OrgUnit
from app.security.services import add_user
from app.staffing.models import Position
from app.staffing.quota_models import PositionRule, StaffingQuota
from app.tenantio.loader import load_tenant_folder
from support import PASSWORD, TENANTS, database_digest, login

BUDGET = 10.0
CHINESE = re.compile(r"[\u4e00-\u9fff]")
SLUG = "adv_rules_api"
EXTRA_POSITION = """  - code: ZZ
    name: 镇级联络员
    org_level: town
    quota: "2"
"""

BAD_FIELDS = [
    ("quota_formula", "MAX(1, CEILING(不存在的字段 / 1500))", "未知"),
    ("quota_formula", "计生常住人口 > 1500", "结果应为数字"),
    ("quota_formula", "MAX(1,", "公式"),
    ("quota_formula", "(" * 10000 + "1" + ")" * 10000, "公式过长"),
    ("quota_formula", "(" * 200 + "1" + ")" * 200, "嵌套过深"),
    ("quota_formula", "1 +\x00 2", "字符"),
    ("eligibility_formula", "年龄 + 1", "结果应为是/否"),
    ("eligibility_formula", "年龄 >", "公式"),
    ("term_years", -3, "1–20"),
    ("term_years", 10**12, "应在"),
    ("rehire_ban_years", -1, "0–20"),
    ("org_level", "planet", "village"),
    ("code", "X Y/../", "字母"),
]


@pytest.fixture(scope="module")
def county(app, tmp_path_factory):
    """A copy of the small demo county with a second (town) position, and its own admin."""
    folder = tmp_path_factory.mktemp("adv_api") / SLUG
    shutil.copytree(TENANTS / "shishi", folder)
    cfg = folder / "tenant.yaml"
    text = cfg.read_text(encoding="utf-8").replace("slug: shishi", f"slug: {SLUG}", 1)
    cfg.write_text(text.replace("packs: {}", EXTRA_POSITION + "packs: {}", 1), encoding="utf-8")
    with app.app_context():
        tenant_id = load_tenant_folder(folder).tenant_id
        add_user(f"{SLUG}_admin", role="county_admin", password=PASSWORD, tenant_slug=SLUG)
        with tenant_context(tenant_id):
            ids = dict(db.session.execute(select(Position.code, Position.id)).all())
    return {"tenant_id": tenant_id, "positions": ids}


def _position_routes(app) -> tuple[str, str]:
    """The API's create and update routes for positions, from the URL map (a renamed route stays covered)."""
    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/api/") and "/position/" in r.rule]
    create = next(r.rule for r in rules if "POST" in r.methods and "<" not in r.rule)
    update = next(r.rule for r in rules if "PUT" in r.methods and "<pk>" in r.rule)
    return create, update


def _valid_position(**changes):
    return {"code": "NEWPOS", "name": "新岗位", "org_level": "village", "quota_formula": "1", **changes}


@pytest.mark.parametrize(("column", "value", "hint"), BAD_FIELDS,
                         ids=[f"{c}-{i}" for i, (c, _v, _h) in enumerate(BAD_FIELDS)])
def test_the_position_api_refuses_a_bad_value_naming_the_field(app, client, county, column, value, hint):
    login(client, f"{SLUG}_admin")
    create, update = _position_routes(app)
    before = database_digest(app, county["tenant_id"])
    pk = county["positions"]["XGY"]
    for method, url, body in (("post", create, _valid_position(**{column: value})),
                              ("put", update.replace("<pk>", str(pk)), {column: value})):
        started = time.monotonic()
        resp = getattr(client, method)(url, json=body)
        assert time.monotonic() - started < BUDGET
        assert resp.status_code == 422, (method, resp.status_code, resp.get_data(as_text=True)[:300])
        message = resp.get_json()["message"]
        assert isinstance(message, dict) and column in message, message  # the field is named
        text = " ".join(message[column])
        assert CHINESE.search(text) and hint in text, text
        assert "Traceback" not in resp.get_data(as_text=True)
    assert database_digest(app, county["tenant_id"]) == before


def _screen_route(app, suffix: str) -> str:
    return next(r.rule for r in app.url_map.iter_rules()
                if r.endpoint.startswith("PositionView.") and r.rule.endswith(suffix))


@pytest.mark.parametrize(("column", "value", "hint"), [BAD_FIELDS[0], BAD_FIELDS[6], BAD_FIELDS[8], BAD_FIELDS[11]])
def test_the_position_screen_refuses_the_same_values(app, client, county, column, value, hint):
    login(client, f"{SLUG}_admin", jwt=False)
    before = database_digest(app, county["tenant_id"])
    form = {k: str(v) for k, v in _valid_position(**{column: value}).items()}
    resp = client.post(_screen_route(app, "/add"), data=form)
    page = resp.get_data(as_text=True)
    assert resp.status_code in (200, 422) and "Traceback" not in page
    assert hint in page  # the form shows the message beside the field
    assert database_digest(app, county["tenant_id"]) == before


def test_the_formula_editor_refuses_a_bad_rule(app, client, county):
    login(client, f"{SLUG}_admin", jwt=False)
    before = database_digest(app, county["tenant_id"])
    save = next(r.rule for r in app.url_map.iter_rules() if r.endpoint == "FormulaEditorView.save")
    for formula in ("计生常住人口 > 1", "(" * 5000, "未知量 * 2"):
        resp = client.post(save, data={"formula": formula, "position_id": county["positions"]["XGY"],
                                       "effective_from": "2026-01-01"})
        assert resp.status_code == 422 and "Traceback" not in resp.get_data(as_text=True)
    assert database_digest(app, county["tenant_id"]) == before


def test_a_bad_rule_already_stored_is_reported_and_the_rest_computed(app, county, time_machine):
    """An old database may hold a rule no door would accept today: the recompute names it and goes on."""
    from app.staffing.quotas import recompute_quotas

    time_machine.move_to(dt.datetime(2025, 6, 1, 12, 0), tick=False)
    tenant_id = county["tenant_id"]
    with app.app_context(), tenant_context(tenant_id):
        xgy = county["positions"]["XGY"]
        latest = db.session.scalar(select(func.max(PositionRule.version)).where(PositionRule.position_id == xgy))
        db.session.execute(PositionRule.__table__.insert().values(  # as an old database holds it: no ORM, no check
            tenant_id=tenant_id, position_id=xgy, kind="quota", formula="不存在的字段 * 2",
            effective_from=dt.date(2025, 1, 1), version=(latest or 0) + 1))
        db.session.commit()
        try:
            report = recompute_quotas("2025")
            assert [(b.position_code, "不存在的字段" in b.error) for b in report.bad_rules] == [("XGY", True)]
            assert "岗位「XGY」" in report.summary()
            zz = county["positions"]["ZZ"]
            rows = db.session.scalars(select(StaffingQuota.quota).join(OrgUnit, OrgUnit.id == StaffingQuota.org_unit_id)
                                      .where(StaffingQuota.position_id == zz, StaffingQuota.period == "2025",
                                             OrgUnit.level == "town")).all()
            assert rows and all(q == 2 for q in rows)  # the other position was computed
        finally:
            db.session.execute(PositionRule.__table__.delete().where(PositionRule.formula == "不存在的字段 * 2"))
            db.session.commit()

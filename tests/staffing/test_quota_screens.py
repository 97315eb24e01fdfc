"""The read-only quota screen and API: own tenant only, formula, version and inputs on the show page."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from staffing_support import recompute

from app.core.tenancy import tenant_context
from app.extensions import db
from app.orgs.models import OrgUnit
from app.staffing.quota_models import StaffingQuota
from support import login


@pytest.fixture(scope="module")
def ids(app, demo):
    with app.app_context():
        for tenant_id in demo["tenant_ids"].values():
            recompute(tenant_id, "2025")
    return demo["tenant_ids"]


def _row_id(app, tenant_id: int, org_code: str, period: str = "2025") -> int:
    with app.app_context(), tenant_context(tenant_id):
        row_id = db.session.scalar(select(StaffingQuota.id).join(OrgUnit, OrgUnit.id == StaffingQuota.org_unit_id)
                                   .where(OrgUnit.code == org_code, StaffingQuota.period == period))
        assert row_id is not None
        return int(row_id)


def _count(app, tenant_id: int) -> int:
    with app.app_context(), tenant_context(tenant_id):
        return len(db.session.scalars(select(StaffingQuota.id)).all())


def test_list_shows_the_own_tenant_with_chinese_labels(app, ids, client):
    login(client, "ss_admin")
    html = client.get("/staffingquotaview/list/?_l_=en&psize_StaffingQuotaView=1").get_data(as_text=True)
    shown = int(re.search(r"Record Count:</strong>\s*(\d+)", html).group(1))
    assert shown == _count(app, ids["shishi"])
    zh = client.get("/staffingquotaview/list/?_flt_0_period=2025").get_data(as_text=True)
    for label in ("编制定额", "定额", "在岗人数", "空缺", "超编", "规则版本"):
        assert label in zh, label


def test_show_page_explains_the_figure(app, ids, client):
    login(client, "ss_admin")
    village = _row_id(app, ids["shishi"], "350581106212")
    html = client.get(f"/staffingquotaview/show/{village}").get_data(as_text=True)
    assert "MAX(1, CEILING(计生常住人口 / 1500))" in html
    assert "计生常住人口 = 800" in html and "1900-01-01" in html
    town = _row_id(app, ids["shishi"], "350581001")
    assert "下级单位汇总" in client.get(f"/staffingquotaview/show/{town}").get_data(as_text=True)


def test_screen_is_read_only_and_refuses_other_tenants_rows(app, ids, client):
    login(client, "ss_admin")
    other = _row_id(app, ids["guanling"], "520424001001")
    own = _row_id(app, ids["shishi"], "350581001001")
    assert client.get(f"/staffingquotaview/show/{other}").status_code == 404
    for path in (f"/staffingquotaview/edit/{own}", f"/staffingquotaview/delete/{own}", "/staffingquotaview/add"):
        assert client.get(path).status_code == 404, path
        assert client.post(path, data={}).status_code == 404, path


def test_api_lists_own_rows_and_has_no_write_routes(app, ids, client):
    login(client, "gl_admin")
    listing = client.get("/api/v1/staffing_quota/?q=(page_size:1)").get_json()
    assert listing["count"] == _count(app, ids["guanling"])
    own = _row_id(app, ids["guanling"], "520424001001")
    item = client.get(f"/api/v1/staffing_quota/{own}").get_json()["result"]
    assert item["org_unit"]["code"] == "520424001001" and item["rule"]["version"] == 1
    assert "inputs" in item and item["rule"]["formula"]
    other = _row_id(app, ids["shishi"], "350581001001")
    assert client.get(f"/api/v1/staffing_quota/{other}").status_code == 404
    before = client.get(f"/api/v1/staffing_quota/{own}").get_json()["result"]
    assert client.put(f"/api/v1/staffing_quota/{own}", json={"quota": 99}).status_code == 405
    assert client.delete(f"/api/v1/staffing_quota/{own}").status_code == 405
    assert client.post("/api/v1/staffing_quota/", json={"quota": 99}).status_code == 405
    assert client.get(f"/api/v1/staffing_quota/{own}").get_json()["result"] == before


def test_province_viewer_reads_quotas_of_its_region(app, ids, client):
    login(client, "fj_viewer")
    client.post(f"/tenant/switch/{ids['shishi']}")
    listing = client.get("/api/v1/staffing_quota/?q=(page_size:1)").get_json()
    assert listing["count"] == _count(app, ids["shishi"])
    assert client.get("/staffingquotaview/list/").status_code == 200


def test_filters_by_period_position_and_org_unit(app, ids, client):
    from app.staffing.models import Position

    with app.app_context(), tenant_context(ids["guanling"]):
        xjsb = db.session.scalar(select(Position.id).where(Position.code == "JSBGW"))
        town = db.session.scalar(select(OrgUnit.id).where(OrgUnit.code == "520424001"))
    login(client, "gl_admin")
    query = f"(filters:!((col:position,opr:rel_o_m,value:{xjsb}),(col:period,opr:eq,value:'2025')),page_size:100)"
    listing = client.get(f"/api/v1/staffing_quota/?q={query}").get_json()
    assert listing["count"] == 14  # 13 towns and the county
    assert {r["position"]["code"] for r in listing["result"]} == {"JSBGW"}
    # the town's 7 positions in 2025: its office (JSBGW, JSBSY) and service station (JSZYS, JSZLYS) posts
    # and the rollups of its villages' RKZR, YFZZ, TGJSY
    by_unit = client.get(f"/api/v1/staffing_quota/?q=(filters:!((col:org_unit,opr:rel_o_m,value:{town}),"
                         "(col:period,opr:eq,value:'2025')))").get_json()
    assert by_unit["count"] == 7 and {r["org_unit"]["code"] for r in by_unit["result"]} == {"520424001"}
    html = client.get(f"/staffingquotaview/list/?_flt_0_position={xjsb}&_flt_3_period=2025&_l_=en").get_data(
        as_text=True)
    assert int(re.search(r"Record Count:</strong>\s*(\d+)", html).group(1)) == 14
    ordered = client.get("/api/v1/staffing_quota/?q=(filters:!((col:period,opr:eq,value:'2025')),"
                         "order_column:vacant,order_direction:desc,page_size:1)").get_json()
    assert ordered["result"][0]["vacant"] == 703  # the county's 育龄妇女小组长: none appointed yet

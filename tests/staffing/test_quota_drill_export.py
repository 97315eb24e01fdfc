"""Quota screen: drill-down between levels, xlsx export of the filtered list, the recompute action."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook
from rq.job import Job
from sqlalchemy import select
from staffing_support import recompute

from app.core.tenancy import tenant_context
from app.extensions import db
from app.jobs.queue import get_queue, wait_for
from app.orgs.models import OrgUnit
from app.staffing.models import Position
from app.staffing.quota_models import StaffingQuota
from app.staffing.quota_service import EXPORT_HEADERS, write_quota_xlsx
from support import login


@pytest.fixture(scope="module")
def ids(app, demo):
    with app.app_context():
        for tenant_id in demo["tenant_ids"].values():
            recompute(tenant_id, "2025")
    return demo["tenant_ids"]


def _row_id(app, tenant_id: int, org_code: str, position: str, period: str = "2025") -> int:
    with app.app_context(), tenant_context(tenant_id):
        row_id = db.session.scalar(
            select(StaffingQuota.id).join(OrgUnit, OrgUnit.id == StaffingQuota.org_unit_id)
            .join(Position, Position.id == StaffingQuota.position_id)
            .where(OrgUnit.code == org_code, Position.code == position, StaffingQuota.period == period))
        assert row_id is not None
        return int(row_id)


def _position_id(app, tenant_id: int, code: str) -> int:
    with app.app_context(), tenant_context(tenant_id):
        return int(db.session.scalar(select(Position.id).where(Position.code == code)))


def test_drill_down_from_county_to_towns_to_villages_and_back_up(app, ids, client):
    login(client, "ss_admin")
    county = _row_id(app, ids["shishi"], "350581", "XGY")
    html = client.get(f"/staffingquotaview/drill/{county}").get_data(as_text=True)
    assert "湖滨街道" in html and "永宁镇" in html  # the county's towns, same position and period
    assert 'id="cd-drill-up"' not in html  # nothing above the county
    town = _row_id(app, ids["shishi"], "350581001", "XGY")
    assert f"/staffingquotaview/drill/{town}" in html
    town_html = client.get(f"/staffingquotaview/drill/{town}").get_data(as_text=True)
    assert f'href="/staffingquotaview/drill/{county}" id="cd-drill-up"' in town_html
    assert "长福社区" in town_html or "350581001001" in town_html
    assert "永宁镇" not in town_html  # only this town's villages
    listing = client.get("/staffingquotaview/list/?_flt_0_period=2025").get_data(as_text=True)
    assert "/staffingquotaview/drill/" in listing and "下级明细" in listing


def test_drill_down_refuses_another_tenants_row(app, ids, client):
    login(client, "ss_admin")
    other = _row_id(app, ids["guanling"], "520424", "RKZR")
    assert client.get(f"/staffingquotaview/drill/{other}").status_code == 404


def test_export_is_the_filtered_list_with_chinese_headers(app, ids, client):
    login(client, "gl_admin")
    rkzr = _position_id(app, ids["guanling"], "RKZR")
    resp = client.get(f"/staffingquotaview/export/?_flt_3_period=2025&_flt_0_position={rkzr}")
    assert resp.status_code == 200
    assert "guanling_2025_staffing_quota.xlsx" in resp.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(resp.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == EXPORT_HEADERS
    with app.app_context(), tenant_context(ids["guanling"]):
        expected = db.session.scalar(select(StaffingQuota.quota).join(OrgUnit, OrgUnit.id == StaffingQuota.org_unit_id)
                                     .where(OrgUnit.code == "520424", StaffingQuota.position_id == rkzr,
                                            StaffingQuota.period == "2025"))
        count = len(db.session.scalars(select(StaffingQuota.id).where(
            StaffingQuota.position_id == rkzr, StaffingQuota.period == "2025")).all())
    assert len(rows) - 1 == count
    assert {r[2] for r in rows[1:]} == {"村级人口主任"}
    county = next(r for r in rows[1:] if r[0] == "520424")
    assert county[3] == expected
    assert not any(str(r[0]).startswith("3505") for r in rows[1:])  # never another county's rows


def test_xlsx_writes_formula_like_text_as_text():
    data = write_quota_xlsx([("=1+1", "+SUM(A1)", "-2", 3, 1, 2, 0, 1), ("@cmd", "普通名称", "岗位", None, 0, None,
                                                                       None, None)])
    sheet = load_workbook(io.BytesIO(data)).active
    first = [c for c in sheet[2]]
    assert [c.value for c in first[:3]] == ["=1+1", "+SUM(A1)", "-2"]
    assert all(c.data_type == "s" for c in first[:3])
    assert first[3].value == 3 and first[3].data_type == "n"
    assert sheet["A3"].value == "@cmd" and sheet["A3"].data_type == "s"
    assert [c.value for c in sheet[1]] == list(EXPORT_HEADERS)


def test_recompute_action_for_county_admins_redirects_to_the_job(app, ids, client):
    login(client, "gl_admin")
    assert "重新计算" in client.get("/staffingquotaview/list/").get_data(as_text=True)
    resp = client.post("/staffingquota/recompute/", data={"period": "2025-02"})
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/jobs/")
    with app.app_context():
        job = Job.fetch(resp.headers["Location"].rsplit("/", 1)[1], connection=get_queue("long").connection)
        assert wait_for(job) == "finished"
    with app.app_context(), tenant_context(ids["guanling"]):
        assert db.session.scalars(select(StaffingQuota.id).where(StaffingQuota.period == "2025-02")).first()
    with app.app_context(), tenant_context(ids["shishi"]):
        assert db.session.scalars(select(StaffingQuota.id).where(StaffingQuota.period == "2025-02")).first() is None
    assert client.post("/staffingquota/recompute/", data={"period": "2025-13"}).status_code == 400


@pytest.mark.parametrize("user", ["ss_town", "fj_viewer"])
def test_recompute_action_refused_to_town_clerks_and_viewers(app, ids, client, user):
    login(client, user)
    if user == "fj_viewer":
        client.post(f"/tenant/switch/{ids['shishi']}")
    assert "重新计算" not in client.get("/staffingquotaview/list/").get_data(as_text=True)
    resp = client.post("/staffingquota/recompute/", data={"period": "2025-03"})
    assert resp.status_code in (302, 403) and not resp.headers.get("Location", "").startswith("/jobs/")
    with app.app_context(), tenant_context(ids["shishi"]):
        assert db.session.scalars(select(StaffingQuota.id).where(StaffingQuota.period == "2025-03")).first() is None

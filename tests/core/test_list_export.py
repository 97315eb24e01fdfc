"""导出 Excel on the core lists: the rows of the current search (all pages), Chinese headers, scoped, safe."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from app.core.idcard import make_id_number
from app.core.tenancy import tenant_context
from app.extensions import db
from app.orgs.models import OrgUnit
from app.staffing.models import Person
from support import login

NAMES = ("导出甲", "导出乙", "导出丙")
INJECTION = "=HYPERLINK(\"http://x\",\"点我\")"


def _village(app, tenant_id: int, town_path: str) -> OrgUnit:
    unit = db.session.scalars(select(OrgUnit).where(OrgUnit.path.startswith(town_path), OrgUnit.level == "village")
                              .order_by(OrgUnit.id)).first()
    assert unit is not None
    return unit


@pytest.fixture
def people(app, demo) -> Iterator[dict[str, Any]]:
    """Three Shishi people (two in the first town, one in another town) and one Guanling person."""
    ss, gl = demo["tenant_ids"]["shishi"], demo["tenant_ids"]["guanling"]
    made: list[tuple[int, int]] = []
    with app.app_context():
        with tenant_context(ss):
            first = _village(app, ss, "/350581/350581001/")
            other = db.session.scalars(select(OrgUnit).where(OrgUnit.level == "village",
                                                             ~OrgUnit.path.startswith("/350581/350581001/"))
                                       .order_by(OrgUnit.id)).first()
            rows = [Person(name=NAMES[0], id_number=make_id_number("350581", dt.date(1980, 1, 2), 451, True),
                           phone="13800000501", org_unit=first, extra={"cert_no": "SS-000501"}),
                    Person(name=NAMES[1], id_number=make_id_number("350581", dt.date(1981, 1, 2), 452, True),
                           phone="13800000502", org_unit=first),
                    Person(name=NAMES[2], id_number=make_id_number("350581", dt.date(1982, 1, 2), 453, True),
                           phone="13800000503", org_unit=other)]
            db.session.add_all(rows)
            db.session.commit()
            made += [(ss, p.id) for p in rows]
            numbers = {p.name: p.id_number for p in rows}
        with tenant_context(gl):
            gl_person = Person(name="导出关岭", id_number=make_id_number("520424", dt.date(1983, 1, 2), 454, True),
                               org_unit=_village(app, gl, "/520424/520424001/"))
            db.session.add(gl_person)
            db.session.commit()
            made.append((gl, gl_person.id))
    yield {"numbers": numbers}
    with app.app_context():
        for tenant_id, pid in made:
            with tenant_context(tenant_id):
                row = db.session.get(Person, pid)
                if row is not None:
                    db.session.delete(row)
                db.session.commit()


def _sheet(resp) -> list[list[Any]]:
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    assert resp.mimetype.endswith("spreadsheetml.sheet")
    book = load_workbook(io.BytesIO(resp.data))
    return [list(r) for r in book.active.iter_rows(values_only=True)]


def _cells(resp) -> list[Any]:
    book = load_workbook(io.BytesIO(resp.data))
    return [c for row in book.active.iter_rows() for c in row]


def test_people_export_has_the_list_headers_in_chinese_and_custom_fields(app, people, client):
    login(client, "ss_admin")
    page = client.get("/personview/list/").get_data(as_text=True)
    assert "导出 Excel" in page and "/personview/export_xlsx/" in page
    rows = _sheet(client.get("/personview/export_xlsx/?_flt_2_name=导出"))
    assert rows[0] == ["姓名", "身份证号", "性别", "出生日期", "学历", "所在村（社区）", "持证上岗证书编号", "取证日期"]
    by_name = {r[0]: r for r in rows[1:]}
    assert set(by_name) == {"导出甲", "导出乙", "导出丙"}  # Shishi's only: never the Guanling person
    number = people["numbers"]["导出甲"]
    assert by_name["导出甲"][1] == f"{number[:4]}{'*' * 10}{number[-4:]}"  # masked, as the list shows it
    assert all(number not in str(v) for r in rows for v in r)
    assert by_name["导出甲"][6] == "SS-000501" and by_name["导出乙"][6] is None
    assert isinstance(by_name["导出甲"][3], dt.datetime)  # typed date cell
    assert client.get("/personview/export_xlsx/").headers["Content-Disposition"].find("shishi-") > 0


def test_export_holds_every_page_and_only_the_filtered_rows(app, demo, people, client):
    login(client, "ss_admin")
    with app.app_context(), tenant_context(demo["tenant_ids"]["shishi"]):
        total = db.session.query(Person).count()
    rows = _sheet(client.get("/personview/export_xlsx/"))
    assert len(rows) - 1 == total and total > 0
    page_size = 50
    if total > page_size:  # more than the page on screen
        assert len(rows) - 1 > page_size
    only = _sheet(client.get("/personview/export_xlsx/?_flt_2_name=导出乙"))
    assert [r[0] for r in only[1:]] == ["导出乙"]


def test_guanling_export_never_holds_shishi_rows(app, people, client):
    login(client, "gl_admin")
    rows = _sheet(client.get("/personview/export_xlsx/?_flt_2_name=导出"))
    assert [r[0] for r in rows[1:]] == ["导出关岭"]
    assert "持证上岗证书编号" not in rows[0]  # Shishi's custom field is not Guanling's


def test_town_clerk_exports_only_its_own_town(app, people, client):
    login(client, "ss_town")
    listed = client.get("/personview/list/?_flt_2_name=导出").get_data(as_text=True)
    assert "导出丙" in listed  # the list shows the county …
    assert "仅含本辖区" in listed
    rows = _sheet(client.get("/personview/export_xlsx/?_flt_2_name=导出"))
    assert sorted(r[0] for r in rows[1:]) == ["导出乙", "导出甲"]  # … the export only the clerk's town
    units = _sheet(client.get("/orgunitview/export_xlsx/"))
    assert units[0][:2] == ["代码", "名称"]
    assert units[1:] and all(str(r[0]).startswith("350581001") for r in units[1:])


def test_formula_looking_text_is_exported_as_text(app, demo, client):
    ss = demo["tenant_ids"]["shishi"]
    with app.app_context(), tenant_context(ss):
        unit = db.session.scalars(select(OrgUnit).where(OrgUnit.level == "group")).first()
        assert unit is not None
        unit_id, old_name = unit.id, unit.name
        unit.name = INJECTION
        db.session.commit()
    try:
        login(client, "ss_admin")
        resp = client.get(f"/orgunitview/export_xlsx/?_flt_3_code={_code(app, ss, unit_id)}")
        cells = [c for c in _cells(resp) if c.value == INJECTION]
        assert cells and all(c.data_type == "s" for c in cells)
    finally:
        with app.app_context(), tenant_context(ss):
            db.session.get(OrgUnit, unit_id).name = old_name
            db.session.commit()


def _code(app, tenant_id: int, unit_id: int) -> str:
    with app.app_context(), tenant_context(tenant_id):
        return str(db.session.get(OrgUnit, unit_id).code)


@pytest.mark.parametrize("route, headers", [
    ("orgunitview", ["代码", "名称", "层级", "上级单位"]),
    ("populationfactview", ["组织机构", "期间", "户籍人口"]),
    ("positionview", ["岗位代码", "岗位名称", "配备层级"]),
    ("appointmentview", ["人员", "岗位代码", "工作单位", "聘期开始"]),
])
def test_every_core_list_exports_with_its_chinese_headers(app, demo, client, route, headers):
    login(client, "ss_admin")
    assert f"/{route}/export_xlsx/" in client.get(f"/{route}/list/").get_data(as_text=True)
    rows = _sheet(client.get(f"/{route}/export_xlsx/"))
    assert rows[0][:len(headers)] == headers
    assert len(rows) > 1


def test_too_long_an_export_is_refused_with_a_chinese_message(app, demo, client):
    login(client, "ss_admin")
    app.config["COUNTYDESK_EXPORT_MAX_ROWS"] = 3
    try:
        resp = client.get("/orgunitview/export_xlsx/?_flt_2_level=village")
        assert resp.status_code == 302 and "/orgunitview/list/" in resp.headers["Location"]
        page = client.get(resp.headers["Location"]).get_data(as_text=True)
        assert "超过导出上限 3 行" in page and "缩小范围" in page
    finally:
        app.config.pop("COUNTYDESK_EXPORT_MAX_ROWS")


def test_province_viewer_may_export_the_county_it_reads(app, demo, client):
    login(client, "fj_viewer")
    client.post(f"/tenant/switch/{demo['tenant_ids']['shishi']}")
    rows = _sheet(client.get("/orgunitview/export_xlsx/"))
    assert rows[0][0] == "代码" and len(rows) > 1


def test_audit_log_export_names_the_objects_in_chinese(app, demo, client):
    login(client, "ss_admin")
    rows = _sheet(client.get("/auditeventview/export_xlsx/?_flt_0_entity=person"))
    assert rows[0][:4] == ["时间（UTC）", "操作人", "操作", "对象"]
    assert len(rows) > 1 and {r[3] for r in rows[1:]} == {"人员"}
    client.get("/logout/")
    login(client, "ss_town")  # the audit log is the county admin's, its export too
    assert client.get("/auditeventview/export_xlsx/").status_code in (302, 403)


def test_fab_file_download_route_is_not_served_by_county_lists(app, demo, client):
    """``can_download`` guards 导出 Excel; FAB's upload-folder file route must not ride on it."""
    from pathlib import Path

    folder = Path(app.config["UPLOAD_FOLDER"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "core-secret.txt").write_text("另一个县的文件", encoding="utf-8")
    login(client, "ss_admin")
    resp = client.get("/personview/download/core-secret.txt")
    assert resp.status_code == 404 and "另一个县" not in resp.get_data(as_text=True)

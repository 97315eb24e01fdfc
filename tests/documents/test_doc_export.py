"""Export: xlsx/csv keep what clerks typed — Chinese headers, typed cells, and never a formula."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from urllib.parse import quote

from openpyxl import load_workbook

from app.core.tenancy import tenant_context
from app.core.xlsx_export import send_csv, send_xlsx, write_csv, write_xlsx

DANGEROUS = ["=cmd|' /C calc'!A0", "=HYPERLINK(\"http://x\",\"点我\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]
COLUMNS = [("姓名", "name"), ("年龄", "age"), ("出生日期", "born"), ("在岗", lambda r: r["active"])]


def _rows() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = [{"name": v, "age": 30, "born": dt.date(1990, 5, 1), "active": True}
                                     for v in DANGEROUS]
    rows.append({"name": "王小明", "age": -3, "born": None, "active": False})
    return rows


def test_xlsx_formula_injection_round_trip_keeps_text_not_formula():
    data = write_xlsx(COLUMNS, _rows(), "名单")
    sheet = load_workbook(io.BytesIO(data)).active
    names = [sheet.cell(row=i, column=1) for i in range(2, len(DANGEROUS) + 2)]
    # with lxml (a dependency) openpyxl keeps a CR inside the cell, so even "\r=1" comes back exactly
    assert [c.value for c in names] == DANGEROUS
    assert all(c.data_type == "s" for c in names)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        xml = archive.read("xl/worksheets/sheet1.xml").decode("utf-8")
    assert "<f>" not in xml and "<f " not in xml  # no formula element anywhere in the sheet


def test_xlsx_has_bold_chinese_header_typed_cells_and_widths():
    sheet = load_workbook(io.BytesIO(write_xlsx(COLUMNS, _rows(), "名单"))).active
    assert sheet.title == "名单"
    assert [c.value for c in sheet[1]] == ["姓名", "年龄", "出生日期", "在岗"]
    assert all(c.font.b for c in sheet[1])
    assert sheet["B2"].value == 30 and sheet["B2"].data_type == "n"
    assert sheet["B9"].value == -3  # a negative number stays a number
    assert sheet["C2"].is_date and sheet["C2"].value.date() == dt.date(1990, 5, 1)
    assert sheet["D2"].value == "是" and sheet["D9"].value == "否"
    assert sheet.column_dimensions["A"].width >= 20  # widest value decides


def test_xlsx_streams_a_long_list():
    rows = ({"name": f"人员{i}", "age": i} for i in range(20_000))
    sheet = load_workbook(io.BytesIO(write_xlsx(COLUMNS[:2], rows)), read_only=True).active
    values = list(sheet.iter_rows(values_only=True))
    assert len(values) == 20_001 and values[-1] == ("人员19999", 19999)


def test_csv_has_bom_and_escapes_injection():
    data = write_csv(COLUMNS, _rows())
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["姓名", "年龄", "出生日期", "在岗"]
    assert [r[0] for r in rows[1:len(DANGEROUS) + 1]] == ["'" + v for v in DANGEROUS]
    assert rows[-1] == ["王小明", "-3", "", "否"]  # numbers are not prefixed
    assert rows[1][2] == "1990-05-01"


def test_download_has_chinese_filename_with_tenant_slug(app, demo):
    with app.test_request_context("/"), tenant_context(demo["tenant_ids"]["shishi"]):
        response = send_xlsx(write_xlsx(COLUMNS, []), "人员名单")
        disposition = response.headers["Content-Disposition"]
        assert "filename*=UTF-8''" + quote("shishi-人员名单.xlsx") in disposition
        assert 'filename="shishi-' in disposition and disposition.isascii()
        assert response.mimetype.endswith("spreadsheetml.sheet")
        csv_response = send_csv(write_csv(COLUMNS, []), "人员名单.csv")
        assert quote("shishi-人员名单.csv") in csv_response.headers["Content-Disposition"]

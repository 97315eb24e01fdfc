"""Exporting a form's list to xlsx: Chinese headers, the list's filters, every page, injection kept as text."""

from __future__ import annotations

import io

import pytest
from forms_support import MONTHLY, SS_TOWN, acting, monthly_data, villages
from openpyxl import load_workbook

from app.extensions import db
from app.forms import io_export, services
from app.forms.models import FormRecord
from support import login

INJECTION = "=cmd|' /C calc'!A0"


@pytest.fixture
def records(app, demo):
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        units = villages(SS_TOWN)[:3]
        for i, v in enumerate(units):
            for period in ("2025-01", "2025-02"):
                services.create_record(MONTHLY, {"org_unit_id": v.id, "period": period,
                                                 "data": monthly_data(remarks=INJECTION if i == 0 else f"村{i}",
                                                                      births=i + 4, births_in_policy=i + 4)})
        db.session.commit()
        codes = [v.code for v in units]
    yield codes
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        db.session.query(FormRecord).delete()
        db.session.commit()


def _sheet(data: bytes):
    return load_workbook(io.BytesIO(data)).worksheets[0]


def test_export_has_chinese_headers_and_keeps_formula_text_as_text(app, demo, client, records):
    login(client, "ss_admin")
    resp = client.get(f"/forms/{MONTHLY}/export.xlsx")
    assert resp.status_code == 200 and "attachment" in resp.headers["Content-Disposition"]
    assert "shishi-" in resp.headers["Content-Disposition"]
    sheet = _sheet(resp.data)
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:5] == ("单位代码", "单位名称", "期间", "户籍人口", "计生常住人口")
    assert "其中政策内出生人数" in rows[0]
    assert len(rows) == 1 + 6
    remarks = rows[0].index("备注")
    injected = [row for row in sheet.iter_rows(min_row=2) if row[remarks].value == INJECTION]
    assert len(injected) == 2
    assert all(cell[remarks].data_type == "s" for cell in injected)  # text, not a formula
    assert isinstance(rows[1][3], int)  # numbers stay numbers


def test_export_follows_the_list_filters(app, demo, client, records):
    login(client, "ss_admin")
    rows = list(_sheet(client.get(f"/forms/{MONTHLY}/export.xlsx?period=2025-02").data).iter_rows(values_only=True))
    assert len(rows) == 1 + 3 and {r[2] for r in rows[1:]} == {"2025-02"}


def test_export_reads_every_page(app, demo, records, monkeypatch):
    monkeypatch.setattr(io_export, "PAGE", 2)
    with app.app_context(), acting(demo["tenant_ids"]["shishi"]):
        data, name = io_export.export_xlsx(MONTHLY)
    assert name == "人口计划生育信息报告单.xlsx"
    assert _sheet(data).max_row == 1 + 6


def test_other_county_exports_none_of_these_records(app, demo, client, records):
    login(client, "gl_admin")
    resp = client.get(f"/forms/{MONTHLY}/export.xlsx")
    if resp.status_code == 200:  # the county has a form of that code: its own rows only
        assert not any(str(c) in {*records} for row in _sheet(resp.data).iter_rows(values_only=True) for c in row)
    else:
        assert resp.status_code == 404


def test_village_worker_may_export_the_list_it_reads(app, demo, client, records):
    login(client, "ss_village")
    assert client.get(f"/forms/{MONTHLY}/export.xlsx").status_code == 200

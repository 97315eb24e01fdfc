"""Excel workbooks and GBK-encoded CSV files load like UTF-8 CSV."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import select
from tenantio_support import db_fingerprint, problem_at, read_rows, write_rows

from app.core.tenancy import tenant_context
from app.extensions import db
from app.orgs.models import OrgUnit
from app.staffing.models import Person
from app.tenantio.exporter import export_tenant
from app.tenantio.loader import load_tenant_folder
from app.tenantio.problems import TenantFolderInvalid

NUMERIC = {"registered_pop", "resident_pop", "floating_pop", "married_women", "households", "groups"}


def to_xlsx(csv_path: Path, numbers: bool = True) -> Path:
    """Save a CSV as a workbook the way Excel would hold it (counts as numbers) and delete the CSV."""
    rows = read_rows(csv_path)
    book = Workbook()
    sheet = book.active
    header = list(rows[0])
    sheet.append(header)
    for r in rows:
        sheet.append([int(r[h]) if numbers and h in NUMERIC and r[h] else r[h] for h in header])
    target = csv_path.with_suffix(".xlsx")
    book.save(target)
    csv_path.unlink()
    return target


def _slug_copy(folder: Path, target: Path, slug: str) -> Path:
    shutil.copytree(folder, target)
    cfg = target / "tenant.yaml"
    text = cfg.read_text(encoding="utf-8")
    old = next(line for line in text.splitlines() if line.startswith("slug:"))
    cfg.write_text(text.replace(old, f"slug: {slug}"), encoding="utf-8")
    return target


def test_xlsx_files_load_to_the_same_state_as_csv(app, copy_tenant, tmp_path):
    csv_folder = copy_tenant("shishi", "ss_xlsx1")
    xlsx_folder = _slug_copy(csv_folder, tmp_path / "xlsx", "ss_xlsx1")
    to_xlsx(xlsx_folder / "orgunits.csv")
    to_xlsx(xlsx_folder / "population.csv")
    assert not (xlsx_folder / "orgunits.csv").exists()
    with app.app_context():
        load_tenant_folder(csv_folder)
        before = db_fingerprint()
        assert load_tenant_folder(xlsx_folder).changed is False  # same tenant: nothing to change
        assert db_fingerprint() == before

        report = load_tenant_folder(_slug_copy(xlsx_folder, tmp_path / "xlsx2", "ss_xlsx2"))
        assert report.inserted["org_unit"] == len(read_rows(csv_folder / "orgunits.csv"))
        a = export_tenant("ss_xlsx1", tmp_path / "a")
        b = export_tenant("ss_xlsx2", tmp_path / "b")
    for name in ("orgunits.csv", "population.csv", "roster.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes()


def test_xlsx_roster_with_excel_dates_and_a_bad_row_names_the_sheet_row(app, copy_tenant):
    folder = copy_tenant("guanling", "gl_xlsx1")
    rows = read_rows(folder / "roster.csv")
    book = Workbook()
    sheet = book.active
    sheet.append(list(rows[0]))
    for r in rows:
        sheet.append([dt.datetime.fromisoformat(r[h]) if h in ("start", "end") and r[h] else r[h] for h in r])
    sheet.cell(row=4, column=8).value = "2023-02-30"  # start of the third person
    book.save(folder / "roster.xlsx")
    (folder / "roster.csv").unlink()
    with app.app_context():
        with pytest.raises(TenantFolderInvalid) as caught:
            load_tenant_folder(folder)
    text = str(problem_at(caught.value, "roster.xlsx", 4, "start"))
    assert text.startswith("roster.xlsx 第4行 字段「start」：")
    assert len(caught.value.problems) == 1


def test_id_numbers_stored_as_excel_numbers_are_refused(app, copy_tenant):
    folder = copy_tenant("guanling", "gl_xlsx2")
    rows = read_rows(folder / "roster.csv")
    book = Workbook()
    sheet = book.active
    sheet.append(list(rows[0]))
    for r in rows:
        sheet.append([r[h] for h in r])
    sheet.cell(row=2, column=1).value = float(rows[0]["id_number"][:17] + "0")  # Excel keeps 15 digits
    book.save(folder / "roster.xlsx")
    (folder / "roster.csv").unlink()
    with app.app_context():
        before = db_fingerprint()
        with pytest.raises(TenantFolderInvalid) as caught:
            load_tenant_folder(folder)
        assert db_fingerprint() == before
    text = str(problem_at(caught.value, "roster.xlsx", 2, "id_number"))
    assert "存成了数字" in text and "文本" in text


def test_a_file_named_xlsx_that_is_not_a_workbook_is_refused(app, copy_tenant):
    folder = copy_tenant("shishi", "ss_xlsx3")
    (folder / "orgunits.csv").rename(folder / "orgunits.xlsx")
    with app.app_context():
        before = db_fingerprint()
        with pytest.raises(TenantFolderInvalid) as caught:
            load_tenant_folder(folder)
        assert db_fingerprint() == before
    text = str(problem_at(caught.value, "orgunits.xlsx", None, None))
    assert text.startswith("orgunits.xlsx：") and "不是有效的 xlsx 文件" in text


def test_a_table_given_both_as_csv_and_xlsx_is_refused(app, copy_tenant):
    folder = copy_tenant("shishi", "ss_xlsx4")
    shutil.copy(folder / "population.csv", folder / "population.keep")
    to_xlsx(folder / "population.csv")
    shutil.move(folder / "population.keep", folder / "population.csv")
    (folder / "roster.xls").write_bytes(b"old excel")
    (folder / "roster.csv").unlink()
    with app.app_context(), pytest.raises(TenantFolderInvalid) as caught:
        load_tenant_folder(folder)
    assert "同时存在" in str(problem_at(caught.value, "population.xlsx", None, None))
    assert "另存为 .xlsx 或 CSV" in str(problem_at(caught.value, "roster.xls", None, None))


def test_gbk_encoded_csv_files_load(app, copy_tenant, tmp_path):
    folder = copy_tenant("shishi", "ss_gbk1")
    gbk = tmp_path / "gbk"
    shutil.copytree(folder, gbk)
    for name in ("orgunits.csv", "roster.csv"):
        write_rows(gbk / name, read_rows(folder / name), encoding="gbk")
    assert "石狮市".encode("gbk") in (gbk / "orgunits.csv").read_bytes()
    yaml_text = (gbk / "tenant.yaml").read_text(encoding="utf-8")
    (gbk / "tenant.yaml").write_bytes(yaml_text.encode("gbk"))
    with app.app_context():
        report = load_tenant_folder(gbk)
        with tenant_context(report.tenant_id):
            county = db.session.scalar(select(OrgUnit).where(OrgUnit.level == "county"))
            assert county.name == "石狮市"
            names = set(db.session.scalars(select(Person.name)))
            assert names == {r["name"] for r in read_rows(folder / "roster.csv")}
        before = db_fingerprint()
        assert load_tenant_folder(folder).changed is False  # the UTF-8 original: same state
        assert db_fingerprint() == before

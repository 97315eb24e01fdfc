"""Hostile files coming in: the import screens, the import CLI and tenant folders, fed the same bad files.

Every input path is enumerated (the upload routes from ``app.url_map``, the file-taking commands from
the click group), so a new import path fails here until it is given a case. Each case asserts what a
user would see: a refusal in Chinese naming the file, line or cell, no traceback, a 413/422 (never a
500), bounded time and memory, and the county's data exactly as before.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from app.cli import _register_commands
from app.cli import cli as countydesk
from app.core.tenancy import tenant_context
from app.documents.importer import run_import
from app.documents.population_import import PopulationImport
from app.extensions import db
from app.tenantio.loader import load_tenant_folder
from support import PASSWORD, TENANTS, database_digest, login

BUDGET = 10.0  # seconds per case: generous; a hang or a blow-up takes minutes
MEMORY = 96 * 1024 * 1024  # peak Python allocation while refusing one hostile file
CHINESE = re.compile(r"[\u4e00-\u9fff]")
POP_HEADER = ["单位代码", "期间", "户籍人口", "计生常住人口", "流动人口", "已婚育龄妇女", "户数", "村民小组数"]
MONTHLY = "rkjs_monthly"
VILLAGE = "350581001001"


# -- hostile files (name, bytes, what the refusal must say) -----------------------------------------

def _csv(rows: list[list[str]], encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode(encoding)


def _xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _with_members(data: bytes, members: dict[str, bytes]) -> bytes:
    out = io.BytesIO(data)
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as archive:
        for name, body in members.items():
            archive.writestr(name, body)
    return out.getvalue()


def _shift_jis() -> bytes:
    return _csv([["code", "name"], *[[f"{i:03d}", "山田太郎　東京都港区"] for i in range(30)]], "shift_jis")


def _broken_utf8() -> bytes:
    """A UTF-8 file with one Latin-1 byte pasted in: not UTF-8, and its Chinese read as GBK is mojibake."""
    return _csv([POP_HEADER, [VILLAGE, "2025", "4034", "", "", "", "", ""]]).replace(b"4034", b"40\xe934")


def _bomb() -> bytes:
    return _with_members(_xlsx([POP_HEADER]), {"xl/media/bomb.bin": b"\0" * (48 << 20)})


def _many_members() -> bytes:
    return _with_members(_xlsx([POP_HEADER]), {f"xl/junk/{i}.xml": b"<a/>" for i in range(1100)})


HOSTILE_FILES: dict[str, tuple[str, Callable[[], bytes], str]] = {
    "shift_jis_csv": ("data.csv", _shift_jis, "文件编码无法识别"),
    "utf8_with_a_latin1_byte": ("data.csv", _broken_utf8, "文件编码无法识别"),
    "utf16_csv": ("data.csv", lambda: "单位代码,期间\n".encode("utf-16-le"), "只接受"),
    "zip_bomb_xlsx": ("data.xlsx", _bomb, "压缩比异常"),
    "xlsx_of_1100_members": ("data.xlsx", _many_members, "个部件"),
    "truncated_xlsx": ("data.xlsx", lambda: _xlsx([POP_HEADER])[:300], "xlsx"),
}
"""Refused as a whole file, on every path, before any row is read."""
FOLDER_EXPECTED = {"utf16_csv": "文件编码无法识别"}
"""A folder's files have no upload check: UTF-16 is refused by its encoding there."""


def _formula_xlsx() -> bytes:  # openpyxl writes formulas without the value Excel would have cached
    return _xlsx([POP_HEADER, [VILLAGE, "2025", "=1+1", None, None, None, None, None]])


HOSTILE_ROWS: dict[str, tuple[list[list[str]], str, str]] = {
    "decimal_count": ([[VILLAGE, "2025", "1234.5"]], "户籍人口", "非负整数"),
    "exponent_count": ([[VILLAGE, "2025", "1e3"]], "户籍人口", "非负整数"),
    "superscript_count": ([[VILLAGE, "2025", "²"]], "户籍人口", "非负整数"),
    "huge_count": ([[VILLAGE, "2025", "9" * 40]], "户籍人口", "过大"),
    "month_13": ([[VILLAGE, "2025-13"]], "期间", "期间无效"),
    "month_without_zero": ([[VILLAGE, "2025-1"]], "期间", "期间无效"),
    "nul_in_code": ([[VILLAGE + "\x00", "2025"]], "单位代码", "U+0000"),
    "escape_in_count": ([[VILLAGE, "2025", "1\x1b"]], "户籍人口", "U+001B"),
    "full_width_duplicate": ([[VILLAGE, "2025"], ["３５０５８１００１００１", "２０２５"]], "", "重复"),
    "cell_beyond_header": ([[VILLAGE, "2025", "1", "", "", "", "", "", "x"]], "", "超出表头"),
}
"""Rows of a population file a clean import must refuse with the column named (nothing written)."""


# -- fixtures ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def county(app, tmp_path_factory):
    """A copy of the small demo county under its own slug, with its own admin: it may be wrecked here."""
    from app.security.services import add_user

    folder = tmp_path_factory.mktemp("adv_imports") / "own"
    shutil.copytree(TENANTS / "shishi", folder)
    cfg = folder / "tenant.yaml"
    cfg.write_text(re.sub(r"(?m)^slug: \S+", "slug: adv_imports", cfg.read_text(encoding="utf-8"), count=1),
                   encoding="utf-8")
    with app.app_context():
        tenant_id = load_tenant_folder(folder).tenant_id
        add_user("adv_imp_admin", role="county_admin", password=PASSWORD, tenant_slug="adv_imports")
        db.session.remove()
    return {"folder": folder, "tenant_id": tenant_id}




def _clean(text: str, budget_start: float) -> None:
    assert "Traceback" not in text and 'File "' not in text, text[:2000]
    assert CHINESE.search(text), text[:300]
    assert time.monotonic() - budget_start < BUDGET


UPLOAD_ARGS = {"ImportView.post": {"code": "population"}, "FormIOView.post": {"code": MONTHLY}}


def _upload_routes(app) -> list[str]:
    """Every POST route that takes an import file; a new one must be added to ``UPLOAD_ARGS``."""
    found = sorted(r.endpoint for r in app.url_map.iter_rules()
                   if "POST" in (r.methods or ()) and ("/import" in r.rule) and "jobs" not in r.rule)
    assert set(found) == set(UPLOAD_ARGS), f"import route without adversarial cases: {found}"
    return found


def _file_commands() -> list[str]:
    """Commands taking a file (or folder) of data; each has a runner below."""
    _register_commands()
    names = []
    for group_name, group in countydesk.commands.items():
        for name, command in getattr(group, "commands", {}).items():
            if any(p.name in ("file", "folders") for p in command.params):
                names.append(f"{group_name} {name}")
    return sorted(names)


# -- every path, every hostile file ----------------------------------------------------------------

def test_the_paths_of_incoming_files_are_all_covered(app):
    assert _upload_routes(app) == sorted(UPLOAD_ARGS)
    assert _file_commands() == ["forms import", "tenant load"]


@pytest.mark.parametrize("endpoint", sorted(UPLOAD_ARGS))
@pytest.mark.parametrize("case", sorted(HOSTILE_FILES))
def test_a_hostile_upload_is_refused_at_once_on_every_screen(app, county, client, endpoint, case):
    name, build, expected = HOSTILE_FILES[case]
    from flask import url_for

    with app.test_request_context():
        url = url_for(endpoint, **UPLOAD_ARGS[endpoint])
    login(client, "adv_imp_admin")
    data = build()
    before = database_digest(app, county["tenant_id"])
    start = time.monotonic()
    tracemalloc.start()
    try:
        resp = client.post(url, data={"file": (io.BytesIO(data), name), "dry_run": "1"},
                           content_type="multipart/form-data")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert resp.status_code in (413, 422), (case, resp.status_code)
    assert expected in resp.text, resp.text[:500]
    _clean(resp.text, start)
    assert peak < MEMORY + 2 * len(data)
    assert database_digest(app, county["tenant_id"]) == before


@pytest.mark.parametrize("case", sorted(HOSTILE_FILES))
def test_a_hostile_file_is_refused_by_the_import_command(app, county, run, tmp_path, case):
    name, build, expected = HOSTILE_FILES[case]
    path = tmp_path / name
    path.write_bytes(build())
    before = database_digest(app, county["tenant_id"])
    start = time.monotonic()
    result = run("forms", "import", "--tenant", "adv_imports", MONTHLY, str(path))
    assert result.exit_code == 1, result.output
    assert expected in result.output, result.output
    _clean(result.output, start)
    assert database_digest(app, county["tenant_id"]) == before


@pytest.mark.parametrize("case", sorted(HOSTILE_FILES))
def test_a_hostile_file_in_a_tenant_folder_is_refused_naming_it(app, county, run, tmp_path, case):
    name, build, expected = HOSTILE_FILES[case]
    folder = tmp_path / "own"
    shutil.copytree(county["folder"], folder)
    stem = "orgunits" if name.endswith(".xlsx") else "population"
    (folder / f"{stem}.csv").unlink()
    (folder / f"{stem}{Path(name).suffix}").write_bytes(build())
    before = database_digest(app, county["tenant_id"])
    start = time.monotonic()
    tracemalloc.start()
    try:
        result = run("tenant", "load", str(folder))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.exit_code == 1, result.output
    assert f"{stem}{Path(name).suffix}" in result.output
    assert FOLDER_EXPECTED.get(case, expected) in result.output, result.output
    _clean(result.output, start)
    assert peak < MEMORY
    assert database_digest(app, county["tenant_id"]) == before


# -- rows --------------------------------------------------------------------------------------------

def _pop_file(tmp_path: Path, rows: list[list[str]]) -> Path:
    path = tmp_path / "population.csv"
    path.write_bytes(_csv([POP_HEADER, *rows]))
    return path


@pytest.mark.parametrize("case", sorted(HOSTILE_ROWS))
def test_a_hostile_row_is_a_problem_naming_the_column_and_nothing_is_written(app, county, tmp_path, case):
    rows, column, expected = HOSTILE_ROWS[case]
    path = _pop_file(tmp_path, rows)
    before = database_digest(app, county["tenant_id"])
    start = time.monotonic()
    with app.app_context(), tenant_context(county["tenant_id"]):
        result = run_import(PopulationImport(), path, dry_run=False)
        db.session.remove()
    assert not result.ok and not result.committed
    assert any(expected in p.why and (not column or p.column == column) and p.row for p in result.problems), \
        [(p.row, p.column, p.why) for p in result.problems]
    assert all(CHINESE.search(p.why) for p in result.problems)
    assert time.monotonic() - start < BUDGET
    assert database_digest(app, county["tenant_id"]) == before


def test_a_formula_excel_never_calculated_is_refused_naming_the_cell(app, county, tmp_path):
    path = tmp_path / "population.xlsx"
    path.write_bytes(_formula_xlsx())
    before = database_digest(app, county["tenant_id"])
    with app.app_context(), tenant_context(county["tenant_id"]):
        from app.documents.uploads import UploadRefused

        with pytest.raises(UploadRefused) as refused:
            run_import(PopulationImport(), path, dry_run=False)
        db.session.remove()
    assert "C2" in refused.value.message and "公式" in refused.value.message
    assert database_digest(app, county["tenant_id"]) == before


def test_full_width_digits_are_the_same_period_not_a_phantom_one(app, county, tmp_path):
    row = ["３５０５８１００１００１", "２０２５", "４０３４", "9308", "5801", "692", "1172", "11"]
    path = _pop_file(tmp_path, [row])
    with app.app_context(), tenant_context(county["tenant_id"]):
        result = run_import(PopulationImport(), path, dry_run=True)
        db.session.remove()
    assert result.ok, result.problems
    assert (result.counts.new, result.counts.unchanged) == (0, 1)  # the stored 2025 row of that village


def test_a_flood_of_bad_rows_lists_the_first_problems_and_counts_the_rest(app, county, tmp_path):
    rows = [[VILLAGE, "2025", f"{i}.5"] for i in range(20_000)]
    path = _pop_file(tmp_path, rows)
    start = time.monotonic()
    tracemalloc.start()
    try:
        with app.app_context(), tenant_context(county["tenant_id"]):
            result = run_import(PopulationImport(), path, dry_run=True)
            db.session.remove()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.problem_count >= 20_000 and len(result.problems) == 200
    assert "还有" in result.message and "未列出" in result.message
    assert peak < MEMORY
    assert time.monotonic() - start < 3 * BUDGET


def test_a_file_over_the_row_limit_is_refused_as_a_whole(app, county, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "COUNTYDESK_MAX_IMPORT_ROWS", 100)
    path = _pop_file(tmp_path, [[VILLAGE, str(1900 + i)] for i in range(101)])
    with app.app_context(), tenant_context(county["tenant_id"]):
        from app.documents.uploads import UploadRefused

        with pytest.raises(UploadRefused) as refused:
            run_import(PopulationImport(), path, dry_run=True)
        db.session.remove()
    assert "超过 100 行" in refused.value.message


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cell=st.text(max_size=12))
def test_any_count_cell_is_stored_exactly_or_refused_never_truncated(app, county, tmp_path, cell):
    path = _pop_file(tmp_path, [[VILLAGE, "2024", cell]])
    with app.app_context(), tenant_context(county["tenant_id"]):
        handler = PopulationImport()
        result = run_import(handler, path, dry_run=True)
        db.session.remove()
    text = cell.strip().translate({ord("０") + i: ord("0") + i for i in range(10)}).replace(",", "")
    if result.ok:
        assert re.fullmatch(r"[0-9]*", text.replace("，", ""), re.ASCII), cell
    else:
        assert all(CHINESE.search(p.why) for p in result.problems)


# -- tenant folder rows -------------------------------------------------------------------------------

ROSTER_CASES = {
    "education_outside_the_list": ("education", "博士", "学历"),
    "nul_in_name": ("name", "黄\x00金建", "U+0000"),
    "line_break_in_name": ("name", "黄\n金建", "U+000A"),
    "name_longer_than_the_column": ("name", "黄" * 65, "超过 64"),
}


@pytest.mark.parametrize("case", sorted(ROSTER_CASES))
def test_a_bad_roster_cell_is_refused_with_line_and_field(app, county, run, tmp_path, case):
    column, value, expected = ROSTER_CASES[case]
    folder = tmp_path / "own"
    shutil.copytree(county["folder"], folder)
    roster = folder / "roster.csv"
    rows = list(csv.reader(io.StringIO(roster.read_text(encoding="utf-8"))))
    rows[1][rows[0].index(column)] = value
    roster.write_bytes(_csv(rows))
    before = database_digest(app, county["tenant_id"])
    start = time.monotonic()
    result = run("tenant", "load", str(folder))
    assert result.exit_code == 1
    assert f"roster.csv 第2行 字段「{column}」" in result.output and expected in result.output, result.output
    _clean(result.output, start)
    assert database_digest(app, county["tenant_id"]) == before


def test_a_folder_change_keeps_the_old_values_in_the_audit_trail(app, county, tmp_path):
    from sqlalchemy import select

    from app.core.audit_models import AuditEvent

    folder = tmp_path / "own"
    shutil.copytree(county["folder"], folder)
    population = folder / "population.csv"
    rows = list(csv.reader(io.StringIO(population.read_text(encoding="utf-8"))))
    old = rows[1][2]
    rows[1][2] = str(int(old) + 1)
    population.write_bytes(_csv(rows))
    with app.app_context():
        load_tenant_folder(folder)
        with tenant_context(county["tenant_id"]):
            events = [(e.before, e.after) for e in db.session.scalars(
                select(AuditEvent).where(AuditEvent.entity == "population_fact", AuditEvent.action == "update")
                .order_by(AuditEvent.id))]
        load_tenant_folder(county["folder"])  # and back, as the other tests expect
        db.session.remove()
    assert events[-1:] == [({"registered_pop": int(old)},
                                                          {"registered_pop": int(old) + 1})]


def test_a_column_named_twice_in_a_folder_file_is_refused_not_overwritten(app, county, run, tmp_path):
    folder = tmp_path / "own"
    shutil.copytree(county["folder"], folder)
    population = folder / "population.csv"
    rows = list(csv.reader(io.StringIO(population.read_text(encoding="utf-8"))))
    population.write_bytes(_csv([[*row, row[2]] for row in rows]))  # registered_pop twice
    before = database_digest(app, county["tenant_id"])
    result = run("tenant", "load", str(folder))
    assert result.exit_code == 1 and "population.csv 第1行 字段「registered_pop」：列名重复" in result.output
    assert database_digest(app, county["tenant_id"]) == before

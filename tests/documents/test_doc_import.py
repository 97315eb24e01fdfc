"""Import engine on a real table (population facts of a copied county): dry run, commit, re-run, bad rows."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from app.core.tenancy import tenant_context
from app.core.xlsx_export import write_xlsx
from app.documents.importer import run_import, template_xlsx
from app.documents.population_import import PopulationImport
from app.extensions import db
from app.orgs.models import OrgUnit, PopulationFact
from support import TENANTS

HEADER = ["单位代码", "期间", "户籍人口", "计生常住人口", "流动人口", "已婚育龄妇女", "户数", "村民小组数"]
# 350581001001/2025 as in the demo folder (unchanged), 350581001002/2025 changed, 350581001001/2026 new
GOOD = [
    ["350581001001", "2025", "4034", "9308", "5801", "692", "1172", "11"],
    ["350581001002", "2025", "6551", "11453", "5617", "1285", "1918", "13"],
    ["350581001001", "2026", "4100", "9400", "5900", "700", "1180", "11"],
]


@pytest.fixture(scope="module")
def county(app, tmp_path_factory) -> int:
    from app.tenantio.loader import load_tenant_folder

    folder = tmp_path_factory.mktemp("imp") / "ss_import"
    shutil.copytree(TENANTS / "shishi", folder)
    cfg = folder / "tenant.yaml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("slug: shishi", "slug: ss_import"), encoding="utf-8")
    with app.app_context():
        tenant_id = load_tenant_folder(folder).tenant_id
        db.session.remove()
    return int(tenant_id)


def _write(tmp_path: Path, rows: list[list[str]], header: list[str] = HEADER, kind: str = "xlsx") -> Path:
    columns: list[Any] = [(h, i) for i, h in enumerate(header)]
    path = tmp_path / f"population.{kind}"
    if kind == "xlsx":
        path.write_bytes(write_xlsx(columns, rows))
    else:  # as a user's editor saves it: GBK, nothing escaped
        out = io.StringIO()
        csv.writer(out).writerows([header, *rows])
        path.write_bytes(out.getvalue().encode("gbk"))
    return path


def _facts() -> dict[tuple[str, str], tuple[Any, ...]]:
    rows = db.session.execute(select(OrgUnit.code, PopulationFact.period, PopulationFact.registered_pop,
                                     PopulationFact.groups).join(OrgUnit, PopulationFact.org_unit_id == OrgUnit.id))
    return {(code, period): (reg, groups) for code, period, reg, groups in rows}


def test_dry_run_commit_and_rerun_change_exactly_what_the_file_says(app, county, tmp_path):
    path = _write(tmp_path, GOOD)
    messages: list[str] = []
    with app.app_context(), tenant_context(county):
        before = _facts()
        dry = run_import(PopulationImport(), path, dry_run=True, progress=lambda d, t, m: messages.append(m))
        assert dry.ok and not dry.committed
        assert (dry.counts.new, dry.counts.changed, dry.counts.unchanged) == (1, 1, 1)
        assert "试导入通过" in dry.message and "未写入数据" in dry.message
        db.session.remove()
        assert _facts() == before  # the dry run wrote nothing
        assert messages and all(any("\u4e00" <= ch <= "\u9fff" for ch in m) for m in messages)

        done = run_import(PopulationImport(), path, dry_run=False)
        assert done.committed and (done.counts.new, done.counts.changed, done.counts.unchanged) == (1, 1, 1)
        db.session.remove()
        after = _facts()
        assert after[("350581001002", "2025")] == (6551, 13)
        assert after[("350581001001", "2026")] == (4100, 11)
        assert len(after) == len(before) + 1

        again = run_import(PopulationImport(), path, dry_run=False)
        assert (again.counts.new, again.counts.changed, again.counts.unchanged) == (0, 0, 3)
        db.session.remove()
        assert _facts() == after


def test_bad_rows_are_all_reported_in_chinese_and_nothing_is_written(app, county, tmp_path):
    rows = [
        ["350581001001", "2027", "100", "", "", "", "", ""],        # fine on its own
        ["999999", "2027", "100", "", "", "", "", ""],              # unknown org
        ["350581001002", "2027-13", "abc", "", "", "", "", ""],     # bad period and count
        ["350581001003", "2027", "-5", "", "", "", "", ""],         # negative
        ["350581001001", "2027", "200", "", "", "", "", ""],        # duplicate of row 2
        ["=cmd|' /C calc'!A0", "2027", "1", "", "", "", "", ""],    # an injection attempt is just a bad code
    ]
    path = _write(tmp_path, rows, kind="csv")
    with app.app_context(), tenant_context(county):
        before = _facts()
        result = run_import(PopulationImport(), path, dry_run=False)
        assert not result.ok and not result.committed
        got = {(p.row, p.column, p.value): p.why for p in result.problems}
        assert got[(3, "单位代码", "999999")] == "本县没有这个单位代码"
        assert "期间无效" in got[(4, "期间", "2027-13")]
        assert got[(4, "户籍人口", "abc")].startswith("应为非负整数")
        assert got[(5, "户籍人口", "-5")].startswith("应为非负整数")
        assert "与第 2 行重复" in got[(6, None, "单位代码=350581001001，期间=2027")]
        assert got[(7, "单位代码", "=cmd|' /C calc'!A0")] == "本县没有这个单位代码"  # just text, never evaluated
        assert len(result.problems) == 6
        summary = result.to_dict()
        assert summary["problem_count"] == 6 and summary["problems"][0]["why"]
        assert "未写入任何数据" in summary["message"]
        db.session.remove()
        assert _facts() == before


def test_wrong_header_is_one_problem_listing_the_expected_columns(app, county, tmp_path):
    path = _write(tmp_path, [["350581001001", "1"]], header=["单位代码", "备注"])
    with app.app_context(), tenant_context(county):
        result = run_import(PopulationImport(), path, dry_run=True)
    assert len(result.problems) == 1
    problem = result.problems[0]
    assert problem.row == 1 and "缺少必填列「期间」" in problem.why and "未知列「备注」" in problem.why
    assert "单位代码（必填），期间（必填），户籍人口" in problem.why


def test_a_refused_write_rolls_back_the_whole_file(app, county, tmp_path):
    """A village worker's file touching another village: the data layer refuses, nothing is kept."""
    rows = [["350581001001", "2028", "1", "", "", "", "", ""], ["350581001002", "2028", "2", "", "", "", "", ""]]
    path = _write(tmp_path, rows)
    with app.app_context():
        with tenant_context(county):
            village_path = db.session.scalar(select(OrgUnit.path).where(OrgUnit.code == "350581001001"))
            before = _facts()
        with tenant_context(county, capture_path=village_path):
            result = run_import(PopulationImport(), path, dry_run=False)
        assert not result.committed and result.problems[0].why == "无权修改辖区以外的数据"
        db.session.remove()
        with tenant_context(county):
            assert _facts() == before


def test_template_has_chinese_headers_and_help_sheet():
    book = load_workbook(io.BytesIO(template_xlsx(PopulationImport())))
    assert book.sheetnames == ["数据", "填写说明"]
    assert [c.value for c in book["数据"][1]] == HEADER
    help_rows = list(book["填写说明"].iter_rows(values_only=True))
    assert help_rows[0] == ("列名", "是否必填", "说明")
    assert help_rows[2][:2] == ("期间", "必填") and "2025-03" in help_rows[2][2]

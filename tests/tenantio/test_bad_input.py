"""A bad tenant folder is refused as a whole: every problem in Chinese with file, line and field.

Each folder here is a copy of the demo tenant ``shishi`` under its own slug, so it is for an
existing tenant, and it also carries a valid correction (a renamed village, a changed
population): were the problem missed, the load would change the database.
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import pytest
from tenantio_support import (
    append_rows,
    db_fingerprint,
    edit_row,
    find_line,
    has_chinese,
    problem_at,
    read_rows,
    write_rows,
)

from app.tenantio.loader import load_tenant_folder
from app.tenantio.problems import TenantFolderInvalid

LOCATED = re.compile(r"^(tenant\.yaml|orgunits\.(csv|xlsx)|population\.(csv|xlsx)|roster\.(csv|xlsx)) "
                     r"第\d+行( 字段「[^」]+」)?：.+")


@pytest.fixture
def existing(app, copy_tenant, request):
    """A folder of an already loaded tenant, with a valid change the loader would otherwise apply."""
    name = re.sub(r"[^a-z0-9_]", "_", request.node.name.removeprefix("test_").lower())
    folder = copy_tenant("shishi", f"bad_{name[:32]}_{zlib.crc32(request.node.name.encode()):08x}")
    with app.app_context():
        load_tenant_folder(folder)
        line = find_line(folder / "orgunits.csv", level="village")
        edit_row(folder / "orgunits.csv", line, name="本应改名村")
        edit_row(folder / "population.csv", 2, registered_pop="99999")
        yield folder


def refused(app, folder: Path) -> TenantFolderInvalid:
    """Load ``folder``; it must be refused and leave every table as it was."""
    with app.app_context():
        before = db_fingerprint()
        with pytest.raises(TenantFolderInvalid) as caught:
            load_tenant_folder(folder)
        assert db_fingerprint() == before
    exc = caught.value
    assert "未做任何修改" in exc.message
    for problem in exc.problems:
        assert has_chinese(problem.message), problem
    return exc


def located(exc: TenantFolderInvalid, file: str, line: int, field: str | None) -> str:
    """The problem reported at file/line/field, as the user reads it."""
    text = str(problem_at(exc, file, line, field))
    prefix = f"{file} 第{line}行" + (f" 字段「{field}」" if field else "") + "："
    assert text.startswith(prefix), text
    assert LOCATED.match(text), text
    return text


def test_bad_yaml_syntax_names_the_line(app, existing):
    cfg = existing / "tenant.yaml"
    lines = cfg.read_text(encoding="utf-8").splitlines()
    number = next(i for i, line in enumerate(lines, start=1) if line.startswith("name:"))
    lines[number - 1] = "name: 石狮市: 错误"
    cfg.write_text("\n".join(lines) + "\n", encoding="utf-8")
    exc = refused(app, existing)
    text = located(exc, "tenant.yaml", number, None)
    assert "YAML 格式错误" in text and "冒号" in text
    # the roster's positions are not blamed for the unreadable tenant.yaml
    assert [p.file for p in exc.problems] == ["tenant.yaml"]


def test_bad_value_in_tenant_yaml_names_line_and_key(app, existing):
    cfg = existing / "tenant.yaml"
    lines = cfg.read_text(encoding="utf-8").splitlines()
    number = next(i for i, line in enumerate(lines, start=1) if "term_years" in line)
    lines[number - 1] = "    term_years: 三年"
    cfg.write_text("\n".join(lines) + "\n", encoding="utf-8")
    exc = refused(app, existing)
    assert "应为整数" in located(exc, "tenant.yaml", number, "positions.0.term_years")


def test_unknown_parent_code(app, existing):
    line = find_line(existing / "orgunits.csv", level="village")
    edit_row(existing / "orgunits.csv", line, parent_code="350581999")
    exc = refused(app, existing)
    text = located(exc, "orgunits.csv", line, "parent_code")
    assert text.endswith("上级代码「350581999」不存在")


def test_duplicate_code(app, existing):
    original = find_line(existing / "orgunits.csv", level="town")
    town = read_rows(existing / "orgunits.csv")[original - 2]
    line = append_rows(existing / "orgunits.csv", dict(town, name="重复的镇"))
    exc = refused(app, existing)
    text = located(exc, "orgunits.csv", line, "code")
    assert f"代码「{town['code']}」重复（第{original}行已有）" in text


def test_cycle_in_the_tree(app, existing):
    line = append_rows(existing / "orgunits.csv",
                       {"code": "CYCA", "parent_code": "CYCB", "level": "town", "name": "甲镇"},
                       {"code": "CYCB", "parent_code": "CYCA", "level": "village", "name": "乙村"})
    exc = refused(app, existing)
    for at, chain in ((line, "CYCA→CYCB→CYCA"), (line + 1, "CYCB→CYCA→CYCB")):
        text = located(exc, "orgunits.csv", at, "parent_code")
        assert "形成环" in text and chain in text


def test_unknown_level(app, existing):
    line = find_line(existing / "orgunits.csv", level="town")
    edit_row(existing / "orgunits.csv", line, level="镇级")
    exc = refused(app, existing)
    text = located(exc, "orgunits.csv", line, "level")
    assert "层级「镇级」无效" in text
    # the town's villages and their population and staff rows are not blamed for it
    assert len(exc.problems) == 1


def test_missing_required_column(app, existing):
    rows = read_rows(existing / "orgunits.csv")
    write_rows(existing / "orgunits.csv", [{k: v for k, v in r.items() if k != "level"} for r in rows])
    exc = refused(app, existing)
    assert "缺少必填列「level」" in located(exc, "orgunits.csv", 1, "level")


def test_negative_population(app, existing):
    edit_row(existing / "population.csv", 3, registered_pop="-5")
    exc = refused(app, existing)
    text = located(exc, "population.csv", 3, "registered_pop")
    assert "「-5」是负数" in text


def test_non_numeric_population(app, existing):
    edit_row(existing / "population.csv", 4, resident_pop="约九千")
    exc = refused(app, existing)
    text = located(exc, "population.csv", 4, "resident_pop")
    assert "「约九千」不是整数" in text


def test_population_for_unknown_org_code(app, existing):
    line = append_rows(existing / "population.csv", {"org_code": "350581888888", "period": "2025",
                                                      "registered_pop": "100"})
    exc = refused(app, existing)
    text = located(exc, "population.csv", line, "org_code")
    assert "「350581888888」不在 orgunits 中" in text


def test_bad_period(app, existing):
    edit_row(existing / "population.csv", 2, period="2025-13")
    exc = refused(app, existing)
    assert "期间「2025-13」无效" in located(exc, "population.csv", 2, "period")


def test_bad_id_number_check_digit(app, existing):
    number = read_rows(existing / "roster.csv")[3]["id_number"]
    wrong = number[:17] + ("0" if number[17] != "0" else "1")
    edit_row(existing / "roster.csv", 5, id_number=wrong)
    exc = refused(app, existing)
    text = located(exc, "roster.csv", 5, "id_number")
    assert "校验位错误" in text
    assert wrong not in exc.message  # an ID number is personal data: not echoed


def test_roster_position_not_in_tenant_yaml(app, existing):
    edit_row(existing / "roster.csv", 2, position_code="RKZR")
    exc = refused(app, existing)
    text = located(exc, "roster.csv", 2, "position_code")
    assert "岗位代码「RKZR」未在 tenant.yaml" in text


def test_bad_date(app, existing):
    edit_row(existing / "roster.csv", 3, start="2023-13-01")
    edit_row(existing / "roster.csv", 4, end="明年")
    exc = refused(app, existing)
    assert "日期「2023-13-01」无效" in located(exc, "roster.csv", 3, "start")
    assert "日期「明年」无效" in located(exc, "roster.csv", 4, "end")


def test_bad_education_and_status(app, existing):
    edit_row(existing / "roster.csv", 2, education="博士", status="在岗")
    exc = refused(app, existing)
    assert "学历「博士」无效" in located(exc, "roster.csv", 2, "education")
    assert "状态「在岗」无效" in located(exc, "roster.csv", 2, "status")


def test_all_problems_in_all_files_are_reported_at_once(app, existing):
    cfg = existing / "tenant.yaml"
    text = cfg.read_text(encoding="utf-8")
    cfg.write_text(text.replace("term_years: 3", "term_years: 三年"), encoding="utf-8")
    yaml_line = next(i for i, line in enumerate(cfg.read_text(encoding="utf-8").splitlines(), start=1)
                     if "term_years" in line)
    org_line = find_line(existing / "orgunits.csv", level="village")
    edit_row(existing / "orgunits.csv", org_line, parent_code="NOPE")
    dup_line = append_rows(existing / "orgunits.csv", read_rows(existing / "orgunits.csv")[1])
    edit_row(existing / "population.csv", 6, floating_pop="-1")
    edit_row(existing / "population.csv", 7, households="很多")
    number = read_rows(existing / "roster.csv")[0]["id_number"]
    edit_row(existing / "roster.csv", 2, id_number=number[:6] + "19991332" + number[14:])
    edit_row(existing / "roster.csv", 9, start="2023/02/30")

    exc = refused(app, existing)
    expected = [("tenant.yaml", yaml_line, "positions.0.term_years"), ("orgunits.csv", dup_line, "code"),
                ("orgunits.csv", org_line, "parent_code"), ("population.csv", 6, "floating_pop"),
                ("population.csv", 7, "households"), ("roster.csv", 2, "id_number"),
                ("roster.csv", 9, "start")]
    for file, line, field in expected:
        located(exc, file, line, field)
    assert len(exc.problems) == len(expected)
    assert f"有 {len(expected)} 处错误" in exc.message
    assert all(str(p) in exc.message for p in exc.problems)


def test_a_bad_folder_for_a_new_tenant_creates_nothing(app, copy_tenant):
    folder = copy_tenant("guanling", "gl_never")
    edit_row(folder / "roster.csv", 2, org_code="520424999999")
    exc = refused(app, folder)
    located(exc, "roster.csv", 2, "org_code")


def test_a_folder_without_tenant_yaml_or_orgunits(app, tmp_path):
    (tmp_path / "empty").mkdir()
    exc = refused(app, tmp_path / "empty")
    assert {p.file for p in exc.problems} == {"tenant.yaml", "orgunits.csv"}
    assert all(has_chinese(str(p)) for p in exc.problems)


def test_a_unit_under_a_parent_of_the_wrong_level(app, existing):
    orgs = read_rows(existing / "orgunits.csv")
    line = find_line(existing / "orgunits.csv", level="village")
    edit_row(existing / "orgunits.csv", line, parent_code=orgs[0]["code"])
    exc = refused(app, existing)
    assert "村（社区）不能直接隶属于县（市、区）「石狮市」" in located(exc, "orgunits.csv", line, "level")


def test_a_misspelt_key_in_tenant_yaml(app, existing):
    cfg = existing / "tenant.yaml"
    lines = cfg.read_text(encoding="utf-8").splitlines()
    number = next(i for i, line in enumerate(lines, start=1) if line.startswith("region:"))
    lines[number - 1] = lines[number - 1].replace("region:", "regoin:")
    cfg.write_text("\n".join(lines) + "\n", encoding="utf-8")
    exc = refused(app, existing)
    assert "未知字段" in located(exc, "tenant.yaml", number, "regoin")
    assert "必填" in str(problem_at(exc, "tenant.yaml", None, "region"))


@pytest.mark.parametrize(("formula", "message"), [
    ("MAX(1, CEILING(常住人品 / 1500))", "未知变量"),
    ("MAX(1, CEILING(计生常住人口 / 1500)", "公式"),
    ("计生常住人口 > 1500", "结果应为数字"),
    ('计生常住人口 > "初中"', "类型不一致"),
])
def test_bad_quota_formula_names_line_and_key(app, existing, formula, message):
    """SS-1's quota is a formula: a wrong one is refused at load with the line of ``quota:``."""
    cfg = existing / "tenant.yaml"
    lines = cfg.read_text(encoding="utf-8").splitlines()
    number = next(i for i, line in enumerate(lines, start=1) if line.strip().startswith("quota:"))
    lines[number - 1] = f"    quota: '{formula}'"
    cfg.write_text("\n".join(lines) + "\n", encoding="utf-8")
    exc = refused(app, existing)
    assert message in located(exc, "tenant.yaml", number, "positions.0.quota")


def test_eligibility_formula_must_be_a_condition(app, existing):
    cfg = existing / "tenant.yaml"
    lines = cfg.read_text(encoding="utf-8").splitlines()
    number = next(i for i, line in enumerate(lines, start=1) if line.strip().startswith("eligibility:"))
    lines[number - 1] = "    eligibility: 年龄 + 1"
    cfg.write_text("\n".join(lines) + "\n", encoding="utf-8")
    exc = refused(app, existing)
    assert "结果应为是/否" in located(exc, "tenant.yaml", number, "positions.0.eligibility")


def test_bad_county_settings_are_refused_at_load_with_their_line(app, existing):
    """A wrong term-end rule or time zone is found when the folder loads, not first by the nightly check."""
    cfg = existing / "tenant.yaml"
    lines = cfg.read_text(encoding="utf-8").splitlines()
    term_end = next(i for i, line in enumerate(lines, start=1) if line.strip().startswith("term_end:"))
    indent = lines[term_end - 1][: len(lines[term_end - 1]) - len(lines[term_end - 1].lstrip())]
    lines[term_end - 1] = f"{indent}term_end: {{workflow: appraisal, days_before: 三十}}"
    settings = next(i for i, line in enumerate(lines, start=1) if line.startswith("settings:"))
    lines.insert(settings, "  time_zone: Asia/Shanghia")
    cfg.write_text("\n".join(lines) + "\n", encoding="utf-8")
    exc = refused(app, existing)
    assert "Asia/Shanghia" in located(exc, "tenant.yaml", settings + 1, "settings.time_zone")
    assert "settings.appraisal.term_end" in located(exc, "tenant.yaml", term_end + 1, "settings.appraisal.term_end")

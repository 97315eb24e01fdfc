"""``countydesk tenant load`` / ``countydesk tenant export`` as an operator runs them."""

from __future__ import annotations

import pytest
from tenantio_support import db_fingerprint, edit_row, find_line

from app.cli import _register_commands
from app.cli import cli as countydesk


@pytest.fixture
def run(app):
    _register_commands()
    runner = app.test_cli_runner()

    def _run(*args: str):
        return runner.invoke(countydesk, list(args))

    return _run


def test_load_twice_then_export(app, run, copy_tenant, tmp_path):
    folder = copy_tenant("guanling", "gl_cli1")
    first = run("tenant", "load", str(folder))
    assert first.exit_code == 0, first.output
    assert "gl_cli1：" in first.output and "org_unit 新增 817" in first.output
    again = run("tenant", "load", str(folder))
    assert again.exit_code == 0
    assert again.output.strip() == "gl_cli1：无变化"

    exported = run("tenant", "export", "gl_cli1", str(tmp_path / "out"))
    assert exported.exit_code == 0, exported.output
    assert "已导出到" in exported.output
    assert (tmp_path / "out" / "roster.csv").read_text(encoding="utf-8").startswith("id_number,name,")
    assert run("tenant", "load", str(tmp_path / "out")).output.strip() == "gl_cli1：无变化"


def test_a_bad_folder_fails_with_every_problem_in_chinese(app, run, copy_tenant):
    folder = copy_tenant("shishi", "ss_cli2")
    line = find_line(folder / "orgunits.csv", level="village")
    edit_row(folder / "orgunits.csv", line, parent_code="X1")
    edit_row(folder / "population.csv", 3, registered_pop="-10")
    with app.app_context():
        before = db_fingerprint()
    result = run("tenant", "load", str(folder))
    assert result.exit_code != 0
    assert "租户目录有 2 处错误，未做任何修改" in result.output
    assert f"orgunits.csv 第{line}行 字段「parent_code」：上级代码「X1」不存在" in result.output
    assert "population.csv 第3行 字段「registered_pop」：「-10」是负数" in result.output
    with app.app_context():
        assert db_fingerprint() == before


def test_export_of_an_unknown_county_fails(app, run, tmp_path):
    result = run("tenant", "export", "no_such_county", str(tmp_path / "out"))
    assert result.exit_code != 0
    assert "「no_such_county」不存在" in result.output
    assert not (tmp_path / "out").exists()

"""``countydesk formula check|eval`` as a county admin would use them (SS-1, GL-1)."""

from __future__ import annotations


def _cli(app, *args):
    from app.cli import _register_commands, cli

    _register_commands()
    return app.test_cli_runner().invoke(cli, list(args))


def test_eval_ss1_with_chinese_variable(app):
    result = _cli(app, "formula", "eval", "MAX(1, CEILING(计生常住人口 / 1500))", "--var", "计生常住人口=3200")
    assert result.exit_code == 0, result.output
    assert "结果：3" in result.output and "计生常住人口（resident_pop）= 3200" in result.output


def test_check_gl1_previews_real_villages(app, demo):
    result = _cli(app, "formula", "check", "BRACKETS(户籍人口, 2000, 1, 5000, 2, 3)", "--tenant", "guanling")
    assert result.exit_code == 0, result.output
    assert "公式正确" in result.output and "520424" in result.output and "350581" not in result.output


def test_errors_point_at_the_position(app):
    result = _cli(app, "formula", "check", "MAX(1, CEILING(常住人品 / 1500))")
    assert result.exit_code != 0
    assert "第1行第16列" in result.output and "未知变量「常住人品」" in result.output and "^" in result.output
    result = _cli(app, "formula", "eval", "1 / 计生常住人口", "--var", "resident_pop=0")
    assert result.exit_code != 0 and "除数为0" in result.output
    result = _cli(app, "formula", "eval", "计生常住人口", "--var", "人品=1")
    assert result.exit_code != 0 and "无法识别的变量取值" in result.output

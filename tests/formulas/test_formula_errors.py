"""Formula errors: Chinese message, 1-based line/column, a caret under the position, a ``kind``."""

from __future__ import annotations

import pickle

import pytest

from app.formulas import (
    MAX_DEPTH,
    MAX_LENGTH,
    FormulaError,
    FormulaRuntimeError,
    FType,
    Variable,
    compile_formula,
)


def error_of(text, variables, **kw) -> FormulaError:
    with pytest.raises(FormulaError) as info:
        compile_formula(text, variables, **kw)
    return info.value


def test_unknown_variable_points_at_the_name(variables):
    err = error_of("MAX(1, CEILING(人品 / 1500))", variables)
    assert err.kind == "name"
    assert (err.line, err.column) == (1, 16)
    assert str(err).startswith("第1行第16列：未知变量「人品」")
    assert isinstance(err, ValueError)


def test_caret_accounts_for_double_width_chinese_characters(variables):
    err = error_of("计生常住人口 + 人品", variables)
    assert str(err).startswith("第1行第10列：未知变量「人品」")
    line, caret = err.caret.split("\n")
    assert line == "计生常住人口 + 人品"
    # six CJK characters (two columns each) + " + " = 15 display columns before the caret
    assert caret == " " * 15 + "^"


def test_unknown_variable_suggests_a_close_name(variables):
    err = error_of("计生常驻人口 / 1500", variables)
    assert "是不是「计生常住人口」" in err.message


def test_syntax_error_has_line_column_and_caret_in_chinese(variables):
    err = error_of("MAX(1, 计生常住人口 / )", variables)
    assert err.kind == "syntax"
    assert (err.line, err.column) == (1, 17)
    assert str(err) == "第1行第17列：此处不应出现「)」，这里应是数字、文本、变量或函数"
    assert err.caret == "MAX(1, 计生常住人口 / )\n" + " " * 22 + "^"


def test_syntax_error_on_a_later_line(variables):
    text = 'IF(年龄 <= 40,\n   "年轻",\n   "年长" "x")'
    err = error_of(text, variables)
    assert (err.line, err.column) == (3, 9)
    assert err.caret == '   "年长" "x")\n' + " " * 10 + "^"
    assert "缺少运算符" in err.message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("(1 + 2", "缺少右括号「)」"),
        ("1 + 2)", "多余的右括号「)」"),
        ('"abc', "文本缺少结束引号"),
        ("1 +", "公式不完整，末尾缺少内容"),
        ("IF(年龄,,1)", "缺少参数：逗号前后不能为空"),
        ("1 $ 2", "无法识别的字符「$」"),
        ("   ", "公式为空"),
        ("[学历", "「[」缺少匹配的「]」"),
        ("年龄 != 1", "不等于请写成「<>」"),
        ("年龄 == 1", "等于只需写一个「=」"),
        ("条件甲 && 条件乙", "「并且」请写成 AND(条件1, 条件2)"),
    ],
)
def test_syntax_error_messages(variables, text, message):
    assert error_of(text, variables).message == message


def test_unknown_function(variables):
    err = error_of("MAXX(1, 2)", variables)
    assert err.kind == "name"
    assert err.message == "未知函数「MAXX」，是不是「MAX」？"
    assert (err.line, err.column) == (1, 1)


def test_variable_used_as_function_and_function_used_as_variable(variables):
    assert "是变量" in error_of("年龄(1)", variables).message
    assert "是函数" in error_of("MAX + 1", variables).message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ROUND(1, 2, 3)", "函数 ROUND 需要1到2个参数，实际给了3个"),
        ("ABS()", "函数 ABS 需要1个参数，实际给了0个"),
        ("AND()", "函数 AND 至少需要1个参数，实际给了0个"),
        ("BRACKETS(年龄, 1)", "函数 BRACKETS 至少需要4个参数，实际给了2个"),
    ],
)
def test_wrong_arity(variables, text, message):
    err = error_of(text, variables)
    assert err.kind == "arity"
    assert err.message == message


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ('年龄 > "三十"', "比较的两边类型不一致：一个是数字，一个是文本", 6),
        ('IF(年龄 > 30, 1, "否")', "IF 两个结果的类型不一致：一个是数字，一个是文本", 16),
        ("AND(年龄, TRUE)", "AND 的第1个参数应为逻辑值，实际是数字", 5),
        ('年龄 + "1"', "运算符「+」右边应为数字，实际是文本", 6),
        ("学历 >= 姓名", '学历只能与学历字段或学历文字（如 "高中"）比较', 7),
        ('学历 >= "博士"', "「博士」不是已知学历（可用：小学、初中、高中、中专、大专、本科、研究生）", 7),
        (
            "年龄 < 30 < 40",
            "比较的两边类型不一致：一个是逻辑值，一个是数字（连续比较请写成 AND(a < b, b < c)）",
            11,
        ),
        ("ROUND(年龄, 年龄)", "ROUND 的小数位数必须是整数常量，如 ROUND(x, 2)", 11),
        ("CEILING(年龄, 0)", "CEILING 的基数必须是正数", 13),
        ("BRACKETS(年龄, 50, 1, 40, 2, 3)", "BRACKETS 的上限必须从小到大排列", 21),
        ("DATE(2025, 年龄, 1)", "DATE 的参数必须是整数常量，如 DATE(2025, 11, 15)", 12),
        ('年龄 & "岁"', "运算符「&」左边应为文本，实际是数字", 1),
    ],
)
def test_type_errors(variables, text, message, column):
    err = error_of(text, variables)
    assert err.kind == "type"
    assert err.message == message
    assert err.column == column


def test_constant_mistakes_are_reported_when_saved(variables):
    assert error_of("年龄 / 0", variables).message == "除数不能为0"
    assert error_of("年龄 / (2 - 2)", variables).message == "除数不能为0"
    assert "无效日期 2025-2-30" in error_of("出生日期 < DATE(2025, 2, 30)", variables).message
    assert "0 不能取负数次方" in error_of("0 ^ -1", variables).message


def test_division_by_zero_at_run_time_raises_in_python_and_is_null_in_sql(variables, formula_db):
    f = compile_formula("计生常住人口 / 流动人口", variables)
    with pytest.raises(FormulaRuntimeError) as info:
        f.compute({"resident_pop": 10, "floating_pop": 0})
    err = info.value
    assert err.kind == "runtime"
    assert str(err) == "第1行第8列：除数为0"
    assert err.caret.endswith("^")
    assert formula_db.sql_values(f, [{"resident_pop": 10, "floating_pop": 0}]) == [None]


def test_missing_input_key_is_a_formula_error(variables):
    f = compile_formula("年龄 + 1", variables)
    with pytest.raises(FormulaError, match="缺少变量「年龄」的值"):
        f.compute({})


def test_bad_input_value_is_a_runtime_error(variables):
    f = compile_formula("年龄 + 1", variables)
    with pytest.raises(FormulaRuntimeError, match="不是数字"):
        f.compute({"age": "三十"})
    with pytest.raises(FormulaRuntimeError, match="不是数字"):
        f.compute({"age": True})


def test_too_long(variables):
    text = "+".join(["1"] * (MAX_LENGTH // 2 + 1))
    err = error_of(text, variables)
    assert err.kind == "limit"
    assert err.message.startswith("公式过长")


def test_5000_nested_parentheses_is_a_formula_error_not_recursion(variables):
    text = "(" * 5000 + "1" + ")" * 5000
    assert error_of(text, variables).kind == "limit"  # too long
    err = error_of(text, variables, max_length=20_000)
    assert err.kind == "limit"
    assert err.message.startswith(f"公式嵌套过深：超过{MAX_DEPTH}层")
    assert (err.line, err.column) == (1, MAX_DEPTH + 1)


@pytest.mark.parametrize(
    "text",
    [
        "ABS(" * 3000 + "1" + ")" * 3000,
        "-" * 5000 + "1",
        "+".join(["年龄"] * 3000),
        "IF(TRUE, " * 2000 + "1" + ", 2)" * 2000,
        "1" + "%" * 5000,
    ],
)
def test_deep_or_long_chains_never_recurse(variables, text):
    err = error_of(text, variables, max_length=50_000)
    assert err.kind == "limit"


def test_depth_limit_is_configurable_but_bounded(variables):
    text = "ABS(" * 35 + "1" + ")" * 35
    assert error_of(text, variables).kind == "limit"
    assert compile_formula(text, variables, max_depth=40).compute({}) == 1.0
    with pytest.raises(ValueError):
        compile_formula("1", variables, max_depth=10_000)


def test_ambiguous_name_must_use_the_code():
    variables = [Variable("a", "人口", FType.NUMBER), Variable("b", "人口", FType.NUMBER)]
    err = error_of("人口 + 1", variables)
    assert err.kind == "name"
    assert "同时指向多个变量" in err.message
    assert compile_formula("a + b", variables).compute({"a": 1, "b": 2}) == 3.0


def test_duplicate_variable_codes_are_rejected():
    with pytest.raises(ValueError):
        compile_formula("1", [Variable("a", "甲", FType.NUMBER), Variable("a", "乙", FType.NUMBER)])


def test_errors_survive_pickling(variables):
    err = error_of("MAX(1, 人品)", variables)
    copy = pickle.loads(pickle.dumps(err))
    assert str(copy) == str(err)
    assert copy.caret == err.caret
    assert copy.kind == err.kind


def test_error_without_position_renders_plain_message():
    err = FormulaError("公式必须是文本")
    assert str(err) == "公式必须是文本"
    assert err.caret == ""
    assert err.line is None

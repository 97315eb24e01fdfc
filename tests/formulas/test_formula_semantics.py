"""Language semantics, each checked in Python and, where it matters, against the SQL back end."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from app.formulas import (
    EDUCATION_LEVELS,
    FormulaError,
    FormulaRuntimeError,
    FType,
    compile_formula,
    education_rank,
)


def value(text, variables=(), **row):
    return compile_formula(text, list(variables)).compute(row)


def check_both(formula_db, variables, text, rows, expected):
    f = compile_formula(text, variables)
    assert [f.compute(r) for r in rows] == expected
    assert formula_db.sql_values(f, rows) == expected


# ---------------------------------------------------------------- syntax
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2 * 3", 7.0),
        ("(1 + 2) * 3", 9.0),
        ("2 ^ 3 ^ 2", 64.0),  # left-associative, as in Excel
        ("-2 ^ 2", 4.0),  # unary minus binds tighter than ^, as in Excel
        ("0 - 2 ^ 2", -4.0),
        ("50%", 0.5),
        ("200 * 15%", 30.0),
        ("7 / 2", 3.5),
        ('"计生" & "协管员"', "计生协管员"),
        ('"他说""好"""', '他说"好"'),
        ("1 = 1", True),
        ("1 <> 1", False),
        ("true", True),
        ("False", False),
        ("max(1, 2)", 2.0),
        ("Max(1, 2)", 2.0),
        ("MAX（1，2）", 2.0),  # full-width punctuation from a Chinese input method
        ("“高中” & “”", "高中"),
        ("3 ≥ 2", True),
        ("３ + １", 4.0),  # full-width digits
        ("=1+1", 2.0),
        ("1 +\n 1", 2.0),
    ],
)
def test_syntax(text, expected):
    assert value(text) == expected


def test_names_by_code_label_brackets_and_case(variables):
    assert value("resident_pop + 1", variables, resident_pop=1) == 2.0
    assert value("Resident_Pop + 1", variables, resident_pop=1) == 2.0
    assert value("[计生常住人口] + 1", variables, resident_pop=1) == 2.0
    assert value("[ resident_pop ] + 1", variables, resident_pop=1) == 2.0


def test_labels_with_spaces_and_punctuation_via_brackets():
    from app.formulas import Variable

    v = [Variable("wives", "已婚育龄妇女 (人)", FType.NUMBER)]
    assert value("[已婚育龄妇女 (人)] * 2", v, wives=3) == 6.0


def test_result_types(variables):
    cases = {
        "1": FType.NUMBER,
        '"a"': FType.TEXT,
        "TRUE": FType.BOOL,
        "DATE(2025,1,1)": FType.DATE,
        "学历": FType.EDUCATION,
        'IF(TRUE, 学历, "高中")': FType.EDUCATION,
        '学历 & ""': FType.TEXT,
    }
    for text, ftype in cases.items():
        assert compile_formula(text, variables).result_type is ftype, text


def test_variables_used_in_order_of_first_use(variables):
    f = compile_formula("IF(年龄 > 30, 户籍人口, 年龄 + 计生常住人口)", variables)
    assert f.variables_used == ("age", "registered_pop", "resident_pop")
    assert f.text == "IF(年龄 > 30, 户籍人口, 年龄 + 计生常住人口)"


# ---------------------------------------------------------------- rounding (Excel-like, both back ends)
ROUNDING = [
    ("ROUND(2.5)", 3.0),
    ("ROUND(-2.5)", -3.0),
    ("ROUND(0.5)", 1.0),
    ("ROUND(-0.4)", 0.0),
    ("ROUND(1.005, 2)", 1.01),
    ("ROUND(2.675, 2)", 2.68),
    ("ROUND(1234.5678, -2)", 1200.0),
    ("ROUND(1250, -2)", 1300.0),
    ("ROUNDUP(1.1, 2)", 1.1),
    ("ROUNDUP(3.2)", 4.0),
    ("ROUNDUP(-3.2)", -4.0),
    ("ROUNDDOWN(0.29, 2)", 0.29),
    ("ROUNDDOWN(-3.7)", -3.0),
    ("CEILING(2.1)", 3.0),
    ("CEILING(-2.5)", -2.0),
    ("CEILING(-2.5, 2)", -2.0),
    ("CEILING(1.1, 0.1)", 1.1),
    ("CEILING(7, 5)", 10.0),
    ("CEILING(0.1 * 3, 0.1)", 0.3),
    ("FLOOR(2.9)", 2.0),
    ("FLOOR(-2.1)", -3.0),
    ("FLOOR(0.3, 0.1)", 0.3),
    ("FLOOR(7, 5)", 5.0),
    ("CEILING(3 * 1.1)", 4.0),
    ("ABS(-3)", 3.0),
]


@pytest.mark.parametrize(("text", "expected"), ROUNDING)
def test_rounding_is_excel_like(text, expected):
    assert value(text) == expected


@pytest.mark.parametrize(("text", "expected"), ROUNDING)
def test_rounding_in_sql_matches(formula_db, variables, text, expected):
    """The same rounding computed from a column instead of a constant, in SQL."""
    import re

    m = re.search(r"-?\d+\.?\d*", text)
    assert m
    number = m.group(0)
    column_text = text.replace(number, "考核得分", 1)
    check_both(formula_db, variables, column_text, [{"score": float(number)}], [expected])


def test_ceiling_and_floor_with_a_variable_significance(formula_db, variables):
    rows = [
        {"score": 7, "age": 5},
        {"score": 7, "age": 0},
        {"score": 7, "age": -5},
        {"score": 7, "age": None},
    ]
    f = compile_formula("CEILING(考核得分, 年龄)", variables)
    assert f.compute(rows[0]) == 10.0
    with pytest.raises(FormulaRuntimeError, match="基数必须是正数"):
        f.compute(rows[1])
    assert f.compute(rows[3]) is None
    assert formula_db.sql_values(f, rows) == [10.0, None, None, None]


# ---------------------------------------------------------------- NULLs and faults
def test_null_propagates_through_arithmetic_and_functions(formula_db, variables):
    rows = [{"age": None, "score": 2.0}]
    for text in [
        "年龄 + 1",
        "MAX(1, 年龄)",
        "MIN(年龄, 考核得分)",
        "SUM(年龄, 1)",
        "ROUND(年龄)",
        "-年龄",
        "年龄 > 1",
        "IF(年龄 > 1, 1, 2)",
        "BRACKETS(年龄, 1, 2, 3)",
        "年龄 ^ 2",
        "CEILING(考核得分, 年龄)",
    ]:
        check_both(formula_db, variables, text, rows, [None])


def test_ifblank_and_isblank(formula_db, variables):
    rows = [{"age": None}, {"age": 0}, {"age": 4}]
    check_both(formula_db, variables, "IFBLANK(年龄, -1)", rows, [-1.0, 0.0, 4.0])
    check_both(formula_db, variables, "ISBLANK(年龄)", rows, [True, False, False])
    # IFBLANK/ISBLANK treat a runtime fault like a blank, because SQL cannot tell them apart.
    check_both(formula_db, variables, "IFBLANK(8 / 年龄, -1)", rows, [-1.0, -1.0, 2.0])
    check_both(formula_db, variables, "ISBLANK(8 / 年龄)", rows, [True, True, False])


def test_and_or_use_three_valued_logic(formula_db, variables):
    rows = [{"b1": b, "b2": c} for b in (True, False, None) for c in (True, False, None)]
    and_expected = [True, False, None, False, False, False, None, False, None]
    or_expected = [True, True, True, True, False, None, True, None, None]
    check_both(formula_db, variables, "AND(条件甲, 条件乙)", rows, and_expected)
    check_both(formula_db, variables, "OR(条件甲, 条件乙)", rows, or_expected)
    check_both(formula_db, variables, "NOT(条件甲)", rows[::3], [False, True, None])


def test_a_fault_is_absorbed_where_sql_absorbs_null(formula_db, variables):
    rows = [{"age": 0, "b1": False}, {"age": 0, "b1": True}]
    f = compile_formula("AND(10 / 年龄 > 1, 条件甲)", variables)
    assert f.compute(rows[0]) is False
    with pytest.raises(FormulaRuntimeError, match="除数为0"):
        f.compute(rows[1])
    assert formula_db.sql_values(f, rows) == [False, None]


def test_if_with_null_condition_is_null_not_the_else_branch(formula_db, variables):
    check_both(formula_db, variables, "IF(条件甲, 1, 2)", [{"b1": None}, {"b1": False}], [None, 2.0])
    check_both(formula_db, variables, "IF(条件甲, 1)", [{"b1": False}], [None])


def test_ifs(formula_db, variables):
    f = compile_formula("IFS(年龄 < 30, 1, 年龄 < 40, 2)", variables)
    assert [f.compute({"age": a}) for a in (20, 35, None)] == [1.0, 2.0, None]
    with pytest.raises(FormulaRuntimeError, match="IFS 的条件都不成立"):
        f.compute({"age": 50})
    assert formula_db.sql_values(f, [{"age": 20}, {"age": 35}, {"age": 50}, {"age": None}]) == [
        1.0,
        2.0,
        None,
        None,
    ]


def test_brackets_with_null_and_variable_limits(formula_db, variables):
    text = "BRACKETS(户籍人口, 年龄, 1, 5000, 2, 3)"
    rows = [
        {"registered_pop": 10, "age": 20},
        {"registered_pop": 10, "age": None},
        {"registered_pop": 4000, "age": 20},
        {"registered_pop": 6000, "age": 20},
        {"registered_pop": None, "age": 1},
    ]
    check_both(formula_db, variables, text, rows, [1.0, None, 2.0, 3.0, None])


def test_nan_input_counts_as_missing(variables):
    assert value("年龄 + 1", variables, age=float("nan")) is None


def test_numeric_inputs_may_be_int_decimal_or_numeric_text(variables):
    assert value("金额 * 2", variables, amount=Decimal("12.34")) == 24.68
    assert value("年龄 + 1", variables, age="41") == 42.0


def test_compute_many_can_turn_faults_into_none(variables):
    f = compile_formula("100 / 年龄", variables)
    rows = [{"age": 4}, {"age": 0}, {"age": None}]
    assert list(f.compute_many(rows, errors="null")) == [25.0, None, None]
    with pytest.raises(FormulaRuntimeError):
        list(f.compute_many(rows))


def test_power_faults_are_null_in_sql(formula_db, variables):
    rows = [
        {"score": 0.0, "n2": -1.0},
        {"score": -8.0, "n2": 0.5},
        {"score": 4.0, "n2": 0.5},
        {"score": -2.0, "n2": 3},
    ]
    f = compile_formula("考核得分 ^ 小数乙", variables)
    python = []
    for r in rows:
        try:
            python.append(f.compute(r))
        except FormulaRuntimeError:
            python.append("fault")
    assert python == ["fault", "fault", 2.0, -8.0]
    assert formula_db.sql_values(f, rows) == [None, None, 2.0, -8.0]


def test_overflow_is_a_runtime_error_in_python(variables):
    with pytest.raises(FormulaRuntimeError, match="超出数值范围"):
        value("考核得分 ^ 400", variables, score=10.0)
    with pytest.raises(FormulaRuntimeError, match="超出数值范围"):
        value("考核得分 * 考核得分", variables, score=1e200)


# ---------------------------------------------------------------- education, text, dates
def test_education_levels_module():
    assert EDUCATION_LEVELS == ("小学", "初中", "高中", "中专", "大专", "本科", "研究生")
    assert education_rank("高中") == education_rank("中专") == 3
    assert education_rank("小学") < education_rank("初中") < education_rank("大专") < education_rank("研究生")
    assert education_rank("博士") is None
    assert education_rank(None) is None


def test_education_compares_in_natural_order(formula_db, variables):
    rows = [{"education": level} for level in EDUCATION_LEVELS] + [{"education": None}]
    check_both(
        formula_db, variables, '学历 >= "高中"', rows, [False, False, True, True, True, True, True, None]
    )
    check_both(
        formula_db, variables, '学历 = "高中"', rows, [False, False, True, True, False, False, False, None]
    )
    check_both(
        formula_db, variables, '"大专" > 学历', rows, [True, True, True, True, False, False, False, None]
    )
    rows2 = [{"e1": "中专", "e2": "高中"}, {"e1": "本科", "e2": "大专"}]
    check_both(formula_db, variables, "学历甲 = 学历乙", rows2, [True, False])


def test_unknown_education_value_faults_in_python_and_is_null_in_sql(formula_db, variables):
    f = compile_formula('学历 >= "初中"', variables)
    with pytest.raises(FormulaRuntimeError, match="「博士」不是已知学历"):
        f.compute({"education": "博士"})
    assert formula_db.sql_values(f, [{"education": "博士"}]) == [None]


def test_brackets_on_education(formula_db, variables):
    rows = [{"education": e} for e in ("小学", "初中", "中专", "大专", "研究生")]
    check_both(
        formula_db, variables, 'BRACKETS(学历, "初中", 1, "大专", 2, 3)', rows, [1.0, 1.0, 2.0, 2.0, 3.0]
    )


def test_text_orders_by_code_point_in_every_back_end(formula_db, variables):
    names = ["a", "B", "b", "中", "李", "王", "", "Z9"]
    rows = [{"name": n} for n in names]
    check_both(formula_db, variables, '姓名 < "b"', rows, [n < "b" for n in names])
    check_both(formula_db, variables, '姓名 >= "李"', rows, [n >= "李" for n in names])
    check_both(formula_db, variables, '姓名 & "-" & 学历', [{"name": "王", "education": "中专"}], ["王-中专"])


def test_years_between_dates(formula_db, variables):
    rows = [
        {"d1": dt.date(2000, 2, 29), "d2": dt.date(2025, 2, 28)},
        {"d1": dt.date(2000, 2, 29), "d2": dt.date(2025, 3, 1)},
        {"d1": dt.date(2000, 1, 1), "d2": dt.date(2000, 1, 1)},
        {"d1": dt.date(2000, 6, 1), "d2": dt.date(1999, 6, 2)},  # reversed: negative
        {"d1": None, "d2": dt.date(2000, 1, 1)},
    ]
    check_both(formula_db, variables, "YEARS(日期甲, 日期乙)", rows, [24.0, 25.0, 0.0, -1.0, None])
    check_both(formula_db, variables, "日期甲 < DATE(2000, 3, 1)", rows[:3], [True, True, True])


def test_date_inputs_accept_iso_text_and_datetimes(variables):
    assert (
        value("YEARS(日期甲, 日期乙)", variables, d1="1990-05-01", d2=dt.datetime(2025, 5, 1, 8, 0)) == 35.0
    )
    with pytest.raises(FormulaRuntimeError, match="不是日期"):
        value("YEARS(日期甲, 日期乙)", variables, d1="昨天", d2=dt.date(2025, 1, 1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-MAX(小数乙 + 小数乙)", [-0.02, 1.0]),
        ("-MIN(小数乙 + 小数乙)", [-0.02, 1.0]),
        ("NOT(条件甲) < 条件甲", [True, False]),
        ("ISBLANK(小数乙) = 条件甲", [False, True]),
        ("AND(条件甲, 条件甲) > NOT(条件甲)", [True, False]),
        ('文本甲 & "b" < "ab"', [False, False]),
        ("-2 ^ 2 * 小数乙", [0.04, -2.0]),
    ],
)
def test_rendered_sql_keeps_precedence(formula_db, variables, text, expected):
    """Regressions: pieces SQLAlchemy renders without parentheses must not change meaning."""
    rows = [{"n2": 0.01, "b1": True, "t1": "a"}, {"n2": -0.5, "b1": False, "t1": "c"}]
    check_both(formula_db, variables, text, rows, expected)


def test_sql_results_have_python_types(formula_db, variables):
    row = {"b1": True, "d1": dt.date(2025, 1, 2), "age": 3}
    assert formula_db.sql_values(compile_formula("条件甲", variables), [row]) == [True]
    assert formula_db.sql_values(compile_formula("日期甲", variables), [row]) == [dt.date(2025, 1, 2)]
    assert formula_db.sql_values(compile_formula("年龄 / 2", variables), [row]) == [
        1.5
    ]  # no integer division


def test_constants_are_folded(variables):
    f = compile_formula("IF(年龄 > 10 * 3, ROUND(2.5), 2 ^ 3)", variables)
    assert [type(a).__name__ for a in f.tree.args] == ["TCall", "TConst", "TConst"]  # type: ignore[attr-defined]


def test_formula_error_for_sql_that_would_be_huge(variables):
    text = "年龄"
    for _ in range(14):
        text = f"CEILING({text} * 1.1)"
    f = compile_formula(text, variables)
    assert f.compute({"age": 1}) > 0
    import sqlalchemy as sa

    with pytest.raises(FormulaError, match="过于复杂"):
        f.to_sql({"age": sa.column("age")})


def test_sqlite_without_math_functions_still_computes_ceiling_and_floor(variables, monkeypatch):
    """Some SQLite builds lack ceil()/floor(): CEILING/FLOOR then render with CAST."""
    import sqlalchemy as sa

    from app.formulas import sqlcompat

    monkeypatch.setattr(sqlcompat, "SQLITE_MATH", False)
    engine = sa.create_engine("sqlite://", execution_options={"compiled_cache": None})
    texts = [
        "CEILING(考核得分)",
        "FLOOR(考核得分)",
        "CEILING(考核得分, 0.5)",
        "ROUND(考核得分, 1)",
        "ROUNDDOWN(考核得分)",
    ]
    inputs = [-2.5, -2.0, -0.2, 0.0, 0.2, 2.0, 2.5, 1234.56, None]
    with engine.connect() as conn:
        for text in texts:
            f = compile_formula(text, variables)
            sql = f.to_sql({"score": sa.column("x")})
            assert "ceil(" not in str(sql.compile(engine))
            for x in inputs:
                got = conn.execute(sa.select(sql).select_from(sa.text("(SELECT :v AS x)")), {"v": x}).scalar()
                assert got == f.compute({"score": x}), (text, x)
    engine.dispose()

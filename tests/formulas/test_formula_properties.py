"""Property tests: the Python and SQL back ends agree on random well-typed formulas and inputs,
and the parser never fails with anything but a FormulaError.

The agreement rule (see app/formulas/python_backend.py): where Python returns a value, SQL returns
the same value (floats to a relative 1e-9); where Python returns None or raises a runtime fault
(division by zero, unknown education level …), SQL returns NULL.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import os
import re
from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite

from app.formulas import EDUCATION_LEVELS, FormulaError, FormulaRuntimeError, FType, compile_formula

NUM_LITERALS = [
    "0",
    "1",
    "2",
    "3",
    "0.5",
    "1.5",
    "7",
    "10",
    "100",
    "1500",
    "2000",
    "0.1",
    "2.675",
    "1.005",
    "25",
]
NUM_VARS = ["整数甲", "小数乙", "金额丙", "n1", "n2", "n3"]
BOOL_LEAVES = ["TRUE", "FALSE", "条件甲", "条件乙", "b1"]
CMP = ["=", "<>", "<", "<=", ">", ">="]
TEXTS = ["", "a", "B", "ab", "中文", "李", "Z9"]
FAULT = object()


def call(name: str, *parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(*parts).map(lambda args: f"{name}({', '.join(args)})")


NUM_LEAVES = st.one_of(st.sampled_from(NUM_VARS), st.sampled_from(NUM_LITERALS))


@functools.cache
def num(depth: int) -> st.SearchStrategy[str]:
    leaves = NUM_LEAVES
    if depth == 0:
        return leaves
    a, b = num(depth - 1), boolean(depth - 1)
    return st.one_of(
        leaves,
        st.tuples(a, st.sampled_from(["+", "-", "*", "/"]), a).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        a.map(lambda x: f"(-{x})"),
        a.map(lambda x: f"({x})%"),
        st.tuples(a, st.sampled_from(["2", "3", "0.5", "-1", "0"])).map(lambda t: f"({t[0]}) ^ {t[1]}"),
        st.tuples(st.sampled_from(["MAX", "MIN", "SUM"]), st.lists(a, min_size=1, max_size=3)).map(
            lambda t: f"{t[0]}({', '.join(t[1])})"
        ),
        call("ABS", a),
        st.tuples(
            st.sampled_from(["ROUND", "ROUNDUP", "ROUNDDOWN"]),
            a,
            st.sampled_from(["", ", 0", ", 1", ", 2", ", -1"]),
        ).map(lambda t: f"{t[0]}({t[1]}{t[2]})"),
        st.tuples(
            st.sampled_from(["CEILING", "FLOOR"]),
            a,
            st.sampled_from(["", ", 0.5", ", 10", ", 0.1", ", 整数甲"]),
        ).map(lambda t: f"{t[0]}({t[1]}{t[2]})"),
        call("IF", b, a, a),
        call("IFS", b, a, b, a),
        st.tuples(a, a, a, a).map(lambda t: f"BRACKETS({t[0]}, 10, {t[1]}, 100, {t[2]}, {t[3]})"),
        call("IFBLANK", a, a),
        st.sampled_from(["YEARS(日期甲, 日期乙)", "YEARS(d1, DATE(2025, 11, 15))"]),
    )


@functools.cache
def boolean(depth: int) -> st.SearchStrategy[str]:
    leaves = st.sampled_from(BOOL_LEAVES)
    if depth == 0:
        return leaves
    a, n = boolean(depth - 1), num(depth - 1)
    levels = st.sampled_from(EDUCATION_LEVELS).map(lambda s: f'"{s}"')
    texts = st.sampled_from(TEXTS).map(lambda s: f'"{s}"')
    op = st.sampled_from(CMP)
    return st.one_of(
        leaves,
        st.tuples(n, op, n).map(" ".join),
        st.tuples(education(depth - 1), op, st.one_of(levels, education(0))).map(" ".join),
        st.tuples(text(depth - 1), op, st.one_of(texts, text(0))).map(" ".join),
        st.tuples(date(depth - 1), op, date(0)).map(" ".join),
        st.tuples(a, op, a).map(lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
        st.tuples(st.sampled_from(["AND", "OR"]), st.lists(a, min_size=1, max_size=3)).map(
            lambda t: f"{t[0]}({', '.join(t[1])})"
        ),
        call("NOT", a),
        call("ISBLANK", n),
        call("IF", a, a, a),
        call("IFBLANK", a, a),
    )


@functools.cache
def education(depth: int) -> st.SearchStrategy[str]:
    leaves = st.sampled_from(["学历甲", "学历乙", "e1"])
    if depth == 0:
        return leaves
    return st.one_of(
        leaves,
        call("IF", boolean(depth - 1), education(depth - 1), st.just('"高中"')),
        call("IFBLANK", education(depth - 1), st.just('"初中"')),
    )


@functools.cache
def text(depth: int) -> st.SearchStrategy[str]:
    leaves = st.one_of(st.just("文本甲"), st.sampled_from(TEXTS).map(lambda s: f'"{s}"'))
    if depth == 0:
        return leaves
    t = text(depth - 1)
    return st.one_of(
        leaves,
        st.tuples(t, t).map(lambda p: f"{p[0]} & {p[1]}"),
        call("IF", boolean(depth - 1), t, t),
        education(0).map(lambda e: f'{e} & "级"'),
    )


@functools.cache
def date(depth: int) -> st.SearchStrategy[str]:
    leaves = st.sampled_from(["日期甲", "日期乙", "DATE(2000, 2, 29)", "DATE(1990, 12, 31)"])
    if depth == 0:
        return leaves
    return st.one_of(leaves, call("IF", boolean(depth - 1), date(depth - 1), date(depth - 1)))


FORMULAS = st.one_of(num(3), boolean(3), education(2), text(2), date(2))

# One operator or function over leaves: every builtin is exercised with many inputs.
TEMPLATES = [
    "{n} + {n}",
    "{n} - {n}",
    "{n} * {n}",
    "{n} / {n}",
    "-{n}",
    "{n}%",
    "{n} ^ 2",
    "{n} ^ 0.5",
    "{n} ^ -1",
    "(小数乙 / 1000) ^ (整数甲 / 1000)",
    "MAX({n}, {n})",
    "MIN({n}, {n}, {n})",
    "SUM({n}, {n})",
    "ABS({n})",
    "ROUND({n})",
    "ROUND({n}, 1)",
    "ROUND({n}, 2)",
    "ROUND({n}, -1)",
    "ROUNDUP({n}, 1)",
    "ROUNDDOWN({n}, 2)",
    "CEILING({n})",
    "CEILING({n}, 0.1)",
    "CEILING({n}, 0.3)",
    "CEILING({n}, {n})",
    "FLOOR({n})",
    "FLOOR({n}, 0.5)",
    "FLOOR({n}, {n})",
    "IF({b}, {n}, {n})",
    "IF({b}, {n})",
    "IFS({b}, {n}, {b}, {n})",
    "BRACKETS({n}, 0, {n}, 100, {n}, {n})",
    "BRACKETS({n}, {n}, 1, {n}, 2, 3)",
    "IFBLANK({n}, {n})",
    "ISBLANK({n})",
    "YEARS({d}, {d})",
    "{n} {cmp} {n}",
    "{e} {cmp} {l}",
    "{e} {cmp} {e}",
    "{t} {cmp} {t}",
    '{t} {cmp} "李"',
    "{d} {cmp} {d}",
    "{b} {cmp} {b}",
    "AND({b}, {b})",
    "OR({b}, {b}, {b})",
    "NOT({b})",
    "AND(100 / {n} > 1, {b})",
    "OR(100 / {n} > 1, {b})",
    "IFBLANK(1 / {n}, -1)",
    "ISBLANK(1 / {n})",
    "{t} & {t}",
    "{e} & {t}",
    'IF({b}, {e}, "高中")',
    'BRACKETS({e}, "初中", 1, "大专", 2, 3)',
    'IFBLANK({e}, "初中")',
    "IF({b}, {d}, DATE(2000, 2, 29))",
    "ROUND(小数乙, 2)",
    "ROUND(金额丙 * 1.5, 1)",
    "CEILING(小数乙, 0.05)",
    # precedence of the rendered SQL: boolean-valued pieces inside comparisons and arithmetic
    "NOT({b}) {cmp} {b}",
    "ISBLANK({n}) {cmp} {b}",
    "AND({b}, {b}) {cmp} OR({b}, {b})",
    "({n} {cmp} {n}) {cmp} {b}",
    "IF({b}, {b}, {b}) {cmp} NOT({b})",
    "-{n} ^ 2",
    "-({n} - {n}) * {n}",
    "{n} - -{n}",
    "{t} & {t} {cmp} {t}",
]
LEAVES = {
    "n": st.sampled_from([*NUM_VARS, "1.5", "-2", "0"]),
    "b": st.sampled_from(["条件甲", "条件乙", "b1", "TRUE", "FALSE"]),
    "e": st.sampled_from(["学历甲", "学历乙"]),
    "l": st.sampled_from(EDUCATION_LEVELS).map(lambda s: f'"{s}"'),
    "t": st.one_of(st.just("文本甲"), st.sampled_from(TEXTS).map(lambda s: f'"{s}"')),
    "d": st.sampled_from(["日期甲", "日期乙", "DATE(2000, 2, 29)"]),
    "cmp": st.sampled_from(CMP),
}


def _fill(template: str, values: tuple[str, ...]) -> str:
    parts = iter(values)
    return re.sub(r"\{\w+\}", lambda _: next(parts), template)


def filled(template: str) -> st.SearchStrategy[str]:
    names = re.findall(r"\{(\w+)\}", template)
    return st.tuples(*(LEAVES[n] for n in names)).map(lambda values: _fill(template, values))


TIES = [
    0.5,
    1.5,
    2.5,
    -2.5,
    -0.5,
    0.15,
    0.25,
    0.35,
    -0.45,
    1.005,
    2.675,
    1.115,
    0.1,
    0.3,
    1.1,
    1500.0,
    1501.0,
    2000.0,
]

ROWS = st.lists(
    st.fixed_dictionaries(
        {
            "n1": st.one_of(
                st.none(), st.just(0), st.integers(-3000, 3000), st.sampled_from([1500, 1501, 2000, 5000, -1])
            ),
            "n2": st.one_of(
                st.none(),
                st.just(0.0),
                st.integers(-(10**6), 10**6).map(lambda i: i / 100),
                st.integers(-3000, 3000).map(lambda i: i / 1000),
                st.sampled_from(TIES),
                st.sampled_from(TIES),
            ),
            "n3": st.one_of(
                st.none(),
                st.just(Decimal(0)),
                st.integers(-(10**6), 10**6).map(lambda i: Decimal(i).scaleb(-2)),
                st.sampled_from(TIES).map(lambda x: Decimal(str(x)).quantize(Decimal("0.01"))),
            ),
            "b1": st.one_of(st.none(), st.booleans()),
            "b2": st.one_of(st.none(), st.booleans()),
            "e1": st.one_of(st.none(), st.sampled_from(EDUCATION_LEVELS), st.just("博士")),
            "e2": st.one_of(st.none(), st.sampled_from(EDUCATION_LEVELS)),
            "t1": st.one_of(st.none(), st.sampled_from(TEXTS)),
            "d1": st.one_of(st.none(), st.dates(dt.date(1950, 1, 1), dt.date(2030, 12, 31))),
            "d2": st.one_of(st.none(), st.dates(dt.date(1950, 1, 1), dt.date(2030, 12, 31))),
        }
    ),
    min_size=1,
    max_size=8,
)


def python_value(formula, row):
    try:
        return formula.compute(row)
    except FormulaRuntimeError as err:
        assume("超出数值范围" not in err.message)  # the strategies keep magnitudes far from overflow
        return FAULT


def agree(python, sql, ftype) -> bool:
    if python is FAULT or python is None:
        return sql is None
    if ftype is FType.NUMBER:
        return sql is not None and math.isclose(python, sql, rel_tol=1e-9, abs_tol=1e-12)
    return python == sql and type(python) is type(sql)


CONSTANT_MISTAKES = ("常量计算出错", "除数不能为0", "基数必须是正数", "上限必须从小到大排列")


def check_agreement(formula_db, variables, text, rows):
    try:
        formula = compile_formula(text, variables)
    except FormulaError as err:
        # Mistakes in constants are reported when a formula is saved: (0) ^ -1, x / 0, CEILING(x, -2) …
        assume(not any(hint in err.message for hint in CONSTANT_MISTAKES))
        raise
    python = [python_value(formula, row) for row in rows]
    sql = formula_db.sql_values(formula, rows)
    for row, p, s in zip(rows, python, sql, strict=True):
        assert agree(p, s, formula.result_type), (
            f"{text!r} on {row}: python={p!r} sql={s!r} ({formula_db.name})"
        )


# FORMULA_PROPERTY_EXAMPLES=2000 for a thorough run; the default keeps the suite fast.
EXAMPLES = int(os.environ.get("FORMULA_PROPERTY_EXAMPLES", "150"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@SETTINGS
@given(text=FORMULAS, rows=ROWS)
def test_python_and_sql_back_ends_agree(formula_db, variables, text, rows):
    """Random nested formulas (depth ≤ 3) over NUMBER/BOOL/EDUCATION/TEXT/DATE variables."""
    check_agreement(formula_db, variables, text, rows)


@pytest.mark.parametrize("template", TEMPLATES)
@settings(SETTINGS, max_examples=max(12, EXAMPLES // 12))
@given(data=st.data(), rows=ROWS)
def test_python_and_sql_back_ends_agree_function_by_function(formula_db, variables, template, data, rows):
    """One operator or function over variables, with inputs biased to ties, thresholds, zero and NULL."""
    check_agreement(formula_db, variables, data.draw(filled(template), label="formula"), rows)


# ---------------------------------------------------------------- parser fuzzing
FRAGMENTS = [
    "MAX(",
    "IF(",
    "BRACKETS(",
    "ROUND(",
    "DATE(",
    "AND(",
    "(",
    ")",
    ",",
    "，",
    "（",
    "）",
    "1",
    "0",
    "1500",
    "2.5",
    ".",
    "整数甲",
    "学历甲",
    "条件甲",
    "文本甲",
    "日期甲",
    "人品",
    '"高中"',
    '"',
    '""',
    "“",
    "”",
    "+",
    "-",
    "*",
    "/",
    "^",
    "&",
    "%",
    "<=",
    "<>",
    "=",
    "<",
    ">",
    "TRUE",
    "false",
    " ",
    "\n",
    "[",
    "]",
    "[整数甲]",
    "=",
    "≥",
    "\\",
    "'",
    "#",
]
SQL_DIALECTS = [sqlite.dialect(), postgresql.dialect()]
ALL_NONE = {code: None for code in ["n1", "n2", "n3", "b1", "b2", "e1", "e2", "t1", "d1", "d2"]}


def exercise(text: str, variables) -> None:
    """Compile, evaluate and render ``text``: only FormulaError may come out."""
    try:
        formula = compile_formula(text, variables)
    except FormulaError as err:
        assert err.message and (err.pos is None or (err.line >= 1 and err.column >= 1))
        assert isinstance(err.caret, str)
        return
    row = {**ALL_NONE, **{code: None for code in formula.variables_used}}
    try:
        formula.evaluate(row)
    except FormulaError:
        pass
    columns = {code: sa.column(code) for code in formula.variables_used}
    try:
        expr = formula.to_sql(columns)
    except FormulaError:
        return
    for dialect in SQL_DIALECTS:
        str(expr.compile(dialect=dialect))


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=60))
def test_parser_fuzz_arbitrary_text(variables, text):
    exercise(text, variables)


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(
        alphabet=st.sampled_from(list("()（）,，\"“”[]+-*/^&%<>=.019 \n\taTRUE人口学历甲乙整数\\'")),
        max_size=40,
    )
)
def test_parser_fuzz_formula_characters(variables, text):
    exercise(text, variables)


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.sampled_from(FRAGMENTS), max_size=25))
def test_parser_fuzz_token_soup(variables, parts):
    exercise("".join(parts), variables)


@settings(max_examples=200, deadline=None)
@given(text=FORMULAS, data=st.data())
def test_parser_fuzz_mutated_formulas(variables, text, data):
    """Delete or insert a character somewhere in a valid formula."""
    i = data.draw(st.integers(0, len(text)))
    if data.draw(st.booleans()) and i < len(text):
        mutated = text[:i] + text[i + 1 :]
    else:
        mutated = text[:i] + data.draw(st.sampled_from(list('()",，%^&=<>-1a中[]“'))) + text[i:]
    exercise(mutated, variables)

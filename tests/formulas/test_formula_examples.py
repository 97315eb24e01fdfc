"""The domain's worked examples (DOMAIN.md rule ids), each through both back ends.

Python: ``Formula.compute``/``evaluate``.  SQL: ``Formula.to_sql`` selected from a real table on
SQLite (and PostgreSQL when DATABASE_URL points at one).
"""

from __future__ import annotations

import datetime as dt

import pytest

from app.formulas import FType, compile_formula

SS1 = "MAX(1, CEILING(计生常住人口 / 1500))"
GL1 = "BRACKETS(户籍人口, 2000, 1, 5000, 2, 3)"
CC1 = "CEILING(流动人口 / 500)"
SS2 = 'AND(YEARS(出生日期, 截止日期) >= 25, YEARS(出生日期, 截止日期) <= 55, 学历 >= "初中")'
GL2 = 'AND(年龄 <= 40, 学历 >= "高中")'
DEADLINE = dt.date(2025, 11, 15)


def both(formula, formula_db, rows):
    """(python values, sql values) for the same rows."""
    python = [formula.compute(row) for row in rows]
    sql = formula_db.sql_values(formula, rows)
    return python, sql


SS1_CASES = [(800, 1), (1500, 1), (1501, 2), (3200, 3), (0, 1), (None, None)]


def test_ss1_staffing_quota_one_assistant_per_1500_residents(variables, formula_db):
    """SS-1: max(1, ceil(resident_pop / 1500)) — 800→1, 1500→1, 1501→2, 3200→3; missing data → NULL."""
    f = compile_formula(SS1, variables)
    assert f.result_type is FType.NUMBER
    assert f.variables_used == ("resident_pop",)
    rows = [{"resident_pop": pop} for pop, _ in SS1_CASES]
    python, sql = both(f, formula_db, rows)
    expected = [want for _, want in SS1_CASES]
    assert python == expected
    assert sql == expected


def test_ss1_by_code_equals_by_label(variables):
    """SS-1 written with the variable code gives the same rule."""
    by_code = compile_formula("MAX(1, CEILING(resident_pop / 1500))", variables)
    assert [by_code.compute({"resident_pop": p}) for p, _ in SS1_CASES] == [w for _, w in SS1_CASES]


GL1_CASES = [(2000, 1), (2001, 2), (5000, 2), (5001, 3), (0, 1), (None, None)]


def test_gl1_population_director_brackets(variables, formula_db):
    """GL-1: ≤2,000 → 1 director; 2,001–5,000 → 2; >5,000 → 3."""
    f = compile_formula(GL1, variables)
    rows = [{"registered_pop": pop} for pop, _ in GL1_CASES]
    python, sql = both(f, formula_db, rows)
    expected = [want for _, want in GL1_CASES]
    assert python == expected
    assert sql == expected


def test_gl1_as_nested_if_matches_brackets(variables, formula_db):
    """GL-1 the Excel way, IF(人口 <= 2000, 1, IF(人口 <= 5000, 2, 3)), is the same rule."""
    f = compile_formula("IF(户籍人口 <= 2000, 1, IF(户籍人口 <= 5000, 2, 3))", variables)
    rows = [{"registered_pop": pop} for pop, _ in GL1_CASES]
    python, sql = both(f, formula_db, rows)
    assert python == sql == [want for _, want in GL1_CASES]


def test_cc1_floating_population_assistants(variables, formula_db):
    """CC-1: ceil(floating / 500) — 1200 → 3, 500 → 1, 501 → 2, 0 → 0."""
    f = compile_formula(CC1, variables)
    cases = [(1200, 3), (500, 1), (501, 2), (0, 0), (None, None)]
    python, sql = both(f, formula_db, [{"floating_pop": p} for p, _ in cases])
    assert python == sql == [want for _, want in cases]


def _person(birth: dt.date | None, education: str | None) -> dict[str, object]:
    return {"birth_date": birth, "deadline": DEADLINE, "education": education}


SS2_CASES = [
    (_person(dt.date(2000, 11, 15), "初中"), True),  # turns 25 on the deadline
    (_person(dt.date(2000, 11, 16), "初中"), False),  # 24 on the deadline
    (_person(dt.date(1970, 11, 15), "大专"), True),  # 55 exactly
    (_person(dt.date(1969, 11, 15), "大专"), False),  # 56
    (_person(dt.date(1969, 11, 16), "本科"), True),  # still 55 the day before the birthday
    (_person(dt.date(1990, 1, 1), "小学"), False),  # education below 初中
    (_person(dt.date(2000, 2, 29), "高中"), True),  # leap-day birth
    (_person(None, "高中"), None),  # unknown birth date: cannot decide
    (_person(dt.date(1990, 1, 1), None), None),
    (_person(None, "小学"), False),  # education already fails: FALSE whatever the age
]


def test_ss2_eligibility_age_25_to_55_on_deadline_and_junior_middle_school(variables, formula_db):
    """SS-2: age 25–55 inclusive on the deadline, education ≥ 初中 (three-valued: unknown → NULL)."""
    f = compile_formula(SS2, variables)
    assert f.result_type is FType.BOOL
    assert f.variables_used == ("birth_date", "deadline", "education")
    rows = [row for row, _ in SS2_CASES]
    python, sql = both(f, formula_db, rows)
    expected = [want for _, want in SS2_CASES]
    assert python == expected
    assert sql == expected


def test_ss2_trace_shows_the_inputs(variables):
    """SS-2: the evaluation lists each input with its label (for "show its inputs")."""
    f = compile_formula(SS2, variables)
    result = f.evaluate(_person(dt.date(2000, 11, 15), "初中"))
    assert result.value is True
    assert result.trace == [
        ("birth_date", "出生日期", dt.date(2000, 11, 15)),
        ("deadline", "截止日期", DEADLINE),
        ("education", "学历", "初中"),
    ]


def test_ss2_with_a_date_literal_deadline(variables, formula_db):
    """SS-2 with the deadline written in the formula as DATE(2025, 11, 15)."""
    f = compile_formula(SS2.replace("截止日期", "DATE(2025, 11, 15)"), variables)
    rows = [{"birth_date": row["birth_date"], "education": row["education"]} for row, _ in SS2_CASES]
    python, sql = both(f, formula_db, rows)
    assert python == sql == [want for _, want in SS2_CASES]


GL2_CASES = [
    (40, "中专", True),  # 中专 counts as 高中
    (40, "高中", True),
    (41, "高中", False),
    (30, "初中", False),
    (25, "研究生", True),
    (None, "小学", False),
    (None, "本科", None),
]


def test_gl2_first_hire_age_40_and_senior_high_or_technical(variables, formula_db):
    """GL-2: age ≤ 40 and education ≥ 高中/中专 (中专 passes, 初中 fails)."""
    f = compile_formula(GL2, variables)
    rows = [{"age": age, "education": edu} for age, edu, _ in GL2_CASES]
    python, sql = both(f, formula_db, rows)
    expected = [want for *_, want in GL2_CASES]
    assert python == expected
    assert sql == expected


@pytest.mark.parametrize("text", [SS1, GL1, CC1, SS2, GL2])
def test_worked_examples_accept_a_leading_equals_sign(variables, text):
    """Pasted from Excel with a leading '=' the rules still compile, to the same result type."""
    assert compile_formula("=" + text, variables).result_type is compile_formula(text, variables).result_type

"""Builtin date functions: DATE(y, m, d) literals and YEARS(d1, d2), the full years between two dates.

Why YEARS rather than date arithmetic: eligibility rules say "age 25–55 on the deadline", i.e.
full years from the birth date to a cut-off date.  YEARS(d1, d2) = year(d2) − year(d1), minus one
if d2's month/day comes before d1's (someone born on 29 Feb turns a year older on 1 Mar in
common years).  If d2 precedes d1 the same formula gives a negative number.

DATE takes integer constants only, so it is folded into a date literal when the formula is
saved (an impossible date such as DATE(2025, 2, 30) is reported then).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from .functions import ArgInfo, CallSite, FunctionSpec, PyFn, TypeCheckError, expect
from .sql_backend import sql_literal
from .types import FType


def _date_rule(infos: Sequence[ArgInfo]) -> FType:
    for i, info in enumerate(infos):
        expect(info, FType.NUMBER, i, what=f"DATE 的第{i + 1}个参数")
        c = info.const
        if not info.is_const or c is None or not float(c).is_integer():  # type: ignore[arg-type]
            raise TypeCheckError("DATE 的参数必须是整数常量，如 DATE(2025, 11, 15)", i)
    return FType.DATE


def _make_date(year: float, month: float, day: float) -> dt.date:
    try:
        return dt.date(int(year), int(month), int(day))
    except ValueError:
        raise ValueError(f"无效日期 {int(year)}-{int(month)}-{int(day)}") from None


def _date_py(site: CallSite, fns: list[PyFn]) -> PyFn:
    parts = [float(a.const) for a in site.args]  # type: ignore[arg-type]

    def run(row: Mapping[str, Any]) -> object:
        try:
            return _make_date(*parts)
        except ValueError as err:
            raise site.fault(str(err)) from None

    return run


def _date_sql(site: CallSite, args: list[object]) -> object:
    return sql_literal(_make_date(*(float(a.const) for a in site.args)), FType.DATE)  # type: ignore[arg-type]


def _years(d1: dt.date, d2: dt.date) -> float:
    return float(d2.year - d1.year - ((d2.month, d2.day) < (d1.month, d1.day)))


def _years_sql(d1: Any, d2: Any) -> Any:
    def part(field: str, d: Any) -> Any:
        return sa.extract(field, d)

    def month_day(d: Any) -> Any:
        return part("month", d) * 100 + part("day", d)

    before = sa.case((month_day(d2) < month_day(d1), 1), else_=0)
    return sa.cast(part("year", d2) - part("year", d1) - before, sa.Double())


DATE_FUNCTIONS = [
    FunctionSpec(
        "DATE",
        _date_rule,
        python_builder=_date_py,
        sql_builder=_date_sql,
        min_args=3,
        max_args=3,
        description_zh="日期常量",
        signature_zh="DATE(年, 月, 日)",
    ),
    FunctionSpec(
        "YEARS",
        (FType.DATE, FType.DATE),
        FType.NUMBER,
        python=_years,
        sql=_years_sql,
        description_zh="两个日期之间的整年数（如截止日的周岁年龄）",
        signature_zh="YEARS(开始日期, 结束日期)",
    ),
]

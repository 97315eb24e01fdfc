"""Builtin numeric functions: MIN, MAX, SUM, ABS, ROUND, ROUNDUP, ROUNDDOWN, CEILING, FLOOR.

Rounding follows Excel: ROUND halves away from zero (2.5 → 3, -2.5 → -3), ROUNDUP away from
zero, ROUNDDOWN toward zero, CEILING/FLOOR to a multiple of a positive significance.  Decimal
literals are not exact in binary (1.005*100 is 100.49999999999999), so like Excel's 15-digit
arithmetic the scaled value is nudged by a relative 2^-50 before rounding: ROUND(1.005, 2) = 1.01,
ROUNDUP(1.1, 2) = 1.1, CEILING(1.1, 0.1) = 1.1.  Both back ends perform the very same
floating-point operations in the same order, so they agree to the last bit.

MIN/MAX/SUM propagate NULL like arithmetic (a missing population gives no quota rather than
quota 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from .functions import NOT_CONST, ArgInfo, CallSite, FunctionSpec, PyFn, TypeCheckError, expect
from .python_backend import const_of, strict
from .sqlcompat import fx_ceil, fx_floor, fx_greatest, fx_least
from .types import FType

Row = Mapping[str, Any]
EPS = 2.0**-50
UP = 1.0 + EPS
DOWN = 1.0 - EPS
_D: sa.Double[float] = sa.Double()


def _numbers(name: str) -> Callable[[Sequence[ArgInfo]], FType]:
    def rule(infos: Sequence[ArgInfo]) -> FType:
        for i, info in enumerate(infos):
            expect(info, FType.NUMBER, i, what=f"{name} 的第{i + 1}个参数")
        return FType.NUMBER

    return rule


# ---------------------------------------------------------------- MIN / MAX / SUM / ABS
def _extreme_py(pick: Callable[..., float]) -> Callable[[CallSite, list[PyFn]], PyFn]:
    def build(site: CallSite, fns: list[PyFn]) -> PyFn:
        if len(fns) == 1:
            return fns[0]
        if len(fns) == 2 and const_of(fns[0]) not in (NOT_CONST, None):
            c, g = const_of(fns[0]), fns[1]

            def run_c(row: Row) -> object:
                b = g(row)
                return None if b is None else pick(c, b)

            return run_c
        return strict(site, fns, pick)

    return build


def _sum(*values: float) -> float:
    total = values[0]
    for v in values[1:]:
        total = total + v
    return total


def _sum_sql(site: CallSite, args: list[Any]) -> Any:
    total = args[0]
    for a in args[1:]:
        total = total + a
    return total


# ---------------------------------------------------------------- ROUND family
def _round_rule(name: str) -> Callable[[Sequence[ArgInfo]], FType]:
    def rule(infos: Sequence[ArgInfo]) -> FType:
        _numbers(name)(infos)
        if len(infos) > 1:
            d = infos[1].const
            if not infos[1].is_const or d is None or not float(d).is_integer():  # type: ignore[arg-type]
                raise TypeCheckError(f"{name} 的小数位数必须是整数常量，如 {name}(x, 2)", 1)
            if not -15 <= d <= 15:  # type: ignore[operator]
                raise TypeCheckError(f"{name} 的小数位数应在 -15 到 15 之间", 1)
        return FType.NUMBER

    return rule


def _digits(site: CallSite) -> int:
    d = site.const(1)
    return 0 if d is NOT_CONST else int(d)  # type: ignore[call-overload]


def _round_py(mode: str) -> Callable[[CallSite, list[PyFn]], PyFn]:
    def build(site: CallSite, fns: list[PyFn]) -> PyFn:
        x, d = fns[0], _digits(site)
        f, big = float(10 ** abs(d)), d > 0
        floor, ceil = math.floor, math.ceil

        def run(row: Row) -> object:
            v = x(row)
            if v is None:
                return None
            y = abs(v)
            if d:
                y = y * f if big else y / f
            if mode == "half":
                r = float(floor(y * UP + 0.5))
            elif mode == "up":
                r = float(ceil(y * DOWN))
            else:
                r = float(floor(y * UP))
            if d:
                r = r / f if big else r * f
            return (-1.0 if v < 0 else 1.0) * r + 0.0  # + 0.0 turns -0.0 into 0.0

        return run

    return build


def _round_sql(mode: str) -> Callable[[CallSite, list[Any]], Any]:
    def build(site: CallSite, args: list[Any]) -> Any:
        x, d = args[0], _digits(site)
        f, big = float(10 ** abs(d)), d > 0
        y: Any = sa.func.abs(x, type_=_D)
        if d:
            y = y * f if big else y / f
        r: Any
        if mode == "half":
            r = fx_floor(y * UP + 0.5)
        elif mode == "up":
            r = fx_ceil(y * DOWN)
        else:
            r = fx_floor(y * UP)
        if d:
            r = r / f if big else r * f
        # The sign as a factor keeps ``r`` (which contains ``x``) rendered once.
        return sa.case((x < 0.0, -1.0), else_=1.0) * r + 0.0

    return build


# ---------------------------------------------------------------- CEILING / FLOOR
def _step_rule(name: str) -> Callable[[Sequence[ArgInfo]], FType]:
    def rule(infos: Sequence[ArgInfo]) -> FType:
        _numbers(name)(infos)
        if len(infos) > 1 and infos[1].is_const and infos[1].const is not None and infos[1].const <= 0:  # type: ignore
            raise TypeCheckError(f"{name} 的基数必须是正数", 1)
        return FType.NUMBER

    return rule


def _inverse(site: CallSite) -> float | None:
    """For a constant significance below 1 whose inverse is an integer (0.1 → 10, 0.05 → 20), that integer.

    Scaling by 10 rather than dividing by 0.1 keeps decimal results exact: CEILING(1.1, 0.1) is
    11 / 10 = 1.1, not 11 * 0.1 = 1.1000000000000001.
    """
    s = site.const(1)
    if s is NOT_CONST or s is None or not 0 < s < 1:  # type: ignore[operator]
        return None
    inv = 1.0 / s  # type: ignore[operator]
    k = float(round(inv))
    return k if abs(inv - k) <= 1e-9 * k else None


def _step_py(up: bool) -> Callable[[CallSite, list[PyFn]], PyFn]:
    def build(site: CallSite, fns: list[PyFn]) -> PyFn:
        x = fns[0]
        ceil, floor = math.ceil, math.floor

        def step(y: float) -> float:
            # Nudge toward the side that keeps near-integers (0.30000000000000004/0.1) where they belong.
            return float(ceil(y - abs(y) * EPS)) if up else float(floor(y + abs(y) * EPS))

        if len(fns) == 1:

            def run1(row: Row) -> object:
                y = x(row)
                return None if y is None else step(y)

            return run1
        k = _inverse(site)
        if k is not None:

            def run_k(row: Row) -> object:
                v = x(row)
                return None if v is None else step(v * k) / k

            return run_k
        sig = fns[1]

        def run(row: Row) -> object:
            v = x(row)
            if v is None:
                return None
            s = sig(row)
            if s is None:
                return None
            if s <= 0:
                raise site.fault(f"{site.name} 的基数必须是正数")
            return step(v / s) * s

        return run

    return build


def _step_sql(up: bool) -> Callable[[CallSite, list[Any]], Any]:
    def build(site: CallSite, args: list[Any]) -> Any:
        x = args[0]
        k = _inverse(site) if len(args) > 1 else None
        if len(args) == 1:
            y = x
        elif k is not None:
            y = x * k
        else:
            s = args[1]
            y = x / (s if site.args[1].is_const else sa.case((s > 0.0, s)))
        nudge = sa.func.abs(y, type_=_D) * EPS
        r = fx_ceil(y - nudge) if up else fx_floor(y + nudge)
        if len(args) == 1:
            return r
        return r / k if k is not None else r * args[1]

    return build


_DOCS = {
    "MAX": ("最大值（任一参数为空则为空）", "MAX(数值1, 数值2, …)"),
    "MIN": ("最小值（任一参数为空则为空）", "MIN(数值1, 数值2, …)"),
    "SUM": ("求和（任一参数为空则为空）", "SUM(数值1, 数值2, …)"),
    "ABS": ("绝对值", "ABS(数值)"),
    "ROUND": ("四舍五入（0.5 远离零进位）", "ROUND(数值, [小数位数])"),
    "ROUNDUP": ("远离零方向进位", "ROUNDUP(数值, [小数位数])"),
    "ROUNDDOWN": ("向零方向舍去", "ROUNDDOWN(数值, [小数位数])"),
    "CEILING": ("向上取整到基数的倍数（默认基数1）", "CEILING(数值, [基数])"),
    "FLOOR": ("向下取整到基数的倍数（默认基数1）", "FLOOR(数值, [基数])"),
}


def _fn(name: str, rule: Any, arity: tuple[int, int | None], py: Any, sql: Any) -> FunctionSpec:
    zh, signature = _DOCS[name]
    return FunctionSpec(
        name, rule, python_builder=py, sql_builder=sql, min_args=arity[0], max_args=arity[1],
        description_zh=zh, signature_zh=signature,
    )  # fmt: skip


def _sum_py(site: CallSite, fns: list[PyFn]) -> PyFn:
    return strict(site, fns, _sum)


def _abs_py(site: CallSite, fns: list[PyFn]) -> PyFn:
    return strict(site, fns, abs)


def _abs_sql(site: CallSite, args: list[Any]) -> Any:
    return sa.func.abs(args[0], type_=_D)


MATH_FUNCTIONS = [
    _fn(
        "MAX",
        _numbers("MAX"),
        (1, None),
        _extreme_py(max),
        lambda s, a: a[0] if len(a) == 1 else fx_greatest(*a),
    ),
    _fn(
        "MIN",
        _numbers("MIN"),
        (1, None),
        _extreme_py(min),
        lambda s, a: a[0] if len(a) == 1 else fx_least(*a),
    ),
    _fn("SUM", _numbers("SUM"), (1, None), _sum_py, _sum_sql),
    _fn("ABS", _numbers("ABS"), (1, 1), _abs_py, _abs_sql),
    _fn("ROUND", _round_rule("ROUND"), (1, 2), _round_py("half"), _round_sql("half")),
    _fn("ROUNDUP", _round_rule("ROUNDUP"), (1, 2), _round_py("up"), _round_sql("up")),
    _fn("ROUNDDOWN", _round_rule("ROUNDDOWN"), (1, 2), _round_py("down"), _round_sql("down")),
    _fn("CEILING", _step_rule("CEILING"), (1, 2), _step_py(True), _step_sql(True)),
    _fn("FLOOR", _step_rule("FLOOR"), (1, 2), _step_py(False), _step_sql(False)),
]

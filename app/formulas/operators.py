"""Operators as internal function specs: ``+ - * / ^ & = <> < <= > >=``, unary minus and ``%``.

Why specs: the checker and both back ends then handle one kind of call node.  Operators are not
in the user-visible registry.  Python closures are specialised for a constant right-hand side
(``人口 / 1500``, ``年龄 <= 40``) because that is the common, hot case.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from .education import EDUCATION_RANKS
from .functions import NOT_CONST, ArgInfo, CallSite, FunctionSpec, PyFn, TypeCheckError, expect, unify
from .python_backend import const_of, finite
from .sqlcompat import fx_floor, fx_power, fx_text_c
from .types import FType

Row = Mapping[str, Any]


def _numeric(symbol: str) -> Callable[[Sequence[ArgInfo]], FType]:
    def rule(infos: Sequence[ArgInfo]) -> FType:
        sides = ("左边", "右边") if len(infos) == 2 else ("",)
        for i, info in enumerate(infos):
            expect(info, FType.NUMBER, i, what=f"运算符「{symbol}」{sides[i]}")
        if symbol == "/" and len(infos) == 2 and infos[1].is_const and infos[1].const == 0:
            raise TypeCheckError("除数不能为0", 1)
        return FType.NUMBER

    return rule


def _arith(
    symbol: str, op: Callable[[float, float], float], check: bool
) -> Callable[[CallSite, list[PyFn]], PyFn]:
    """A binary arithmetic closure; ``check`` adds an overflow check (``*`` and ``/``)."""

    def build(site: CallSite, fns: list[PyFn]) -> PyFn:
        f, g = fns
        c: Any = const_of(g)
        if c is not NOT_CONST and c is not None and not (symbol == "/" and abs(c) < 1) and symbol != "*":

            def run_c(row: Row) -> object:
                a = f(row)
                return None if a is None else op(a, c)

            return run_c

        def run(row: Row) -> object:
            a = f(row)
            if a is None:
                return None
            b = g(row)
            if b is None:
                return None
            if symbol == "/" and b == 0:
                raise site.fault("除数为0")
            r = op(a, b)
            return finite(site, r) if check else r

        return run

    return build


def _sql_div(site: CallSite, args: list[Any]) -> Any:
    a, b = args
    if site.args[1].is_const:
        return a / b
    return a / sa.func.nullif(b, 0.0)


def _py_pow(site: CallSite, fns: list[PyFn]) -> PyFn:
    f, g = fns

    def run(row: Row) -> object:
        a = f(row)
        if a is None:
            return None
        b = g(row)
        if b is None:
            return None
        if a == 0 and b < 0:
            raise site.fault("0 不能取负数次方")
        if a < 0 and b != math.floor(b):
            raise site.fault("负数不能取非整数次方")
        try:
            return finite(site, math.pow(a, b))
        except OverflowError:
            raise site.fault("计算结果超出数值范围") from None

    return run


def _sql_pow(site: CallSite, args: list[Any]) -> Any:
    a, b = args
    exponent: Any = site.const(1)
    if exponent is NOT_CONST:
        bad = sa.or_(sa.and_(a == 0.0, b < 0.0), sa.and_(a < 0.0, b != fx_floor(b)))
    elif exponent is None:
        return fx_power(a, b)
    elif float(exponent).is_integer():
        if exponent >= 0:
            return fx_power(a, b)
        bad = a == 0.0
    else:
        bad = a <= 0.0 if exponent < 0 else a < 0.0
    return sa.case((bad, sa.null()), else_=fx_power(a, b))


def _py_neg(site: CallSite, fns: list[PyFn]) -> PyFn:
    (f,) = fns

    def run(row: Row) -> object:
        a = f(row)
        return None if a is None else -a

    return run


def _py_percent(site: CallSite, fns: list[PyFn]) -> PyFn:
    (f,) = fns

    def run(row: Row) -> object:
        a = f(row)
        return None if a is None else a / 100.0

    return run


def _concat_rule(infos: Sequence[ArgInfo]) -> FType:
    for i, info in enumerate(infos):
        if info.type not in (FType.TEXT, FType.EDUCATION):
            side = "左边" if i == 0 else "右边"
            raise TypeCheckError(f"运算符「&」{side}应为文本，实际是{info.type.zh}", i)
    return FType.TEXT


# ---------------------------------------------------------------- comparisons
_PY_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "<>": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _compare_rule(infos: Sequence[ArgInfo]) -> FType:
    try:
        unify(infos, (0, 1), what="比较的两边")
    except TypeCheckError as err:
        types = {infos[0].type, infos[1].type}
        if types == {FType.BOOL, FType.NUMBER}:
            raise TypeCheckError(err.message + "（连续比较请写成 AND(a < b, b < c)）", err.index) from None
        raise
    return FType.BOOL


def domain(site: CallSite, indexes: Sequence[int] = (0, 1)) -> FType:
    """The type two compared values are compared as (EDUCATION if either side is education)."""
    types = {site.args[i].type for i in indexes}
    return FType.EDUCATION if FType.EDUCATION in types else next(iter(types))


def py_rank(site: CallSite, fn: PyFn) -> PyFn:
    """Map an education value to its rank; an unknown level is a runtime fault (NULL in SQL)."""
    c = const_of(fn)
    if c is not NOT_CONST:
        rank = None if c is None else EDUCATION_RANKS[c]  # type: ignore[index]

        def const_rank(row: Row) -> object:
            return rank

        const_rank.const = rank  # type: ignore[attr-defined]
        return const_rank
    ranks = EDUCATION_RANKS

    def run(row: Row) -> object:
        v = fn(row)
        if v is None:
            return None
        r = ranks.get(v)
        if r is None:
            raise site.fault(f"「{v}」不是已知学历")
        return r

    return run


def sql_rank(expr: Any, info: ArgInfo) -> Any:
    if info.is_const:
        rank = None if info.const is None else EDUCATION_RANKS[info.const]  # type: ignore[index]
        return sa.cast(sa.null(), sa.Integer()) if rank is None else sa.literal(rank, sa.Integer())
    return sa.case(
        {level: sa.literal(rank, sa.Integer()) for level, rank in EDUCATION_RANKS.items()}, value=expr
    )


def _comparison(symbol: str) -> FunctionSpec:
    cmp = _PY_CMP[symbol]

    def build(site: CallSite, fns: list[PyFn]) -> PyFn:
        f, g = fns
        if domain(site) is FType.EDUCATION:
            f, g = py_rank(site, f), py_rank(site, g)
        c = const_of(g)
        if c is not NOT_CONST and c is not None:

            def run_c(row: Row) -> object:
                a = f(row)
                return None if a is None else cmp(a, c)

            return run_c

        def run(row: Row) -> object:
            a = f(row)
            if a is None:
                return None
            b = g(row)
            return None if b is None else cmp(a, b)

        return run

    def sql(site: CallSite, args: list[Any]) -> Any:
        a, b = args
        dom = domain(site)
        if dom is FType.EDUCATION:
            a, b = sql_rank(a, site.args[0]), sql_rank(b, site.args[1])
        elif dom is FType.TEXT and symbol not in ("=", "<>"):
            a = fx_text_c(a)
        return cmp(a, b)

    return FunctionSpec(symbol, _compare_rule, python_builder=build, sql_builder=sql, description_zh="比较")


def _op(symbol: str, rule: Callable[[Sequence[ArgInfo]], FType], py: Any, sql: Any) -> FunctionSpec:
    return FunctionSpec(symbol, rule, python_builder=py, sql_builder=sql, min_args=1, max_args=2)


OPERATORS: dict[str, FunctionSpec] = {
    "+": _op("+", _numeric("+"), _arith("+", operator.add, False), lambda s, a: a[0] + a[1]),
    "-": _op("-", _numeric("-"), _arith("-", operator.sub, False), lambda s, a: a[0] - a[1]),
    "*": _op("*", _numeric("*"), _arith("*", operator.mul, True), lambda s, a: a[0] * a[1]),
    "/": _op("/", _numeric("/"), _arith("/", operator.truediv, True), _sql_div),
    "^": _op("^", _numeric("^"), _py_pow, _sql_pow),
    "&": _op("&", _concat_rule, _arith("&", operator.add, False), lambda s, a: a[0].concat(a[1])),
    "neg": _op("-", _numeric("-"), _py_neg, lambda s, a: -a[0]),
    "pos": _op("+", _numeric("+"), lambda s, f: f[0], lambda s, a: a[0]),
    "%": _op("%", _numeric("%"), _py_percent, lambda s, a: a[0] / 100.0),
    **{symbol: _comparison(symbol) for symbol in _PY_CMP},
}

"""Builtin logical functions: IF, IFS, AND, OR, NOT, IFBLANK, ISBLANK and the BRACKETS table.

Why builders rather than plain implementations: these functions are lazy (IF evaluates one
branch) or absorb NULLs/faults exactly as SQL does (three-valued AND/OR, COALESCE), so they get
the compiled argument closures instead of values.  NULL rules (identical in both back ends):
- IF/IFS: a NULL condition gives NULL (not the ELSE branch: a missing population must not
  silently select the last bracket).  IFS with no true condition is a fault (Excel's #N/A).
- BRACKETS: a NULL value, or reaching a NULL limit, gives NULL.
- AND/OR: Kleene logic, like SQL.  IFBLANK(x, d) is d when x is NULL *or a fault*.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import Grouping

from .errors import FormulaRuntimeError
from .functions import NOT_CONST, ArgInfo, CallSite, FunctionSpec, PyFn, TypeCheckError, expect, unify
from .operators import domain, py_rank, sql_rank
from .python_backend import const_of
from .sql_backend import sql_literal
from .types import FType

Row = Mapping[str, Any]


# ---------------------------------------------------------------- IF / IFS
def _if_rule(infos: Sequence[ArgInfo]) -> FType:
    expect(infos[0], FType.BOOL, 0, what="IF 的条件")
    return unify(infos, range(1, len(infos)), what="IF 两个结果的")


def _if_py(site: CallSite, fns: list[PyFn]) -> PyFn:
    cond, then = fns[0], fns[1]
    other = fns[2] if len(fns) > 2 else None

    def run(row: Row) -> object:
        c = cond(row)
        if c is None:
            return None
        if c:
            return then(row)
        return None if other is None else other(row)

    return run


def _case_on(cond: Any, then: Any, other: Any | None) -> Any:
    """``CASE cond WHEN true THEN … WHEN false THEN … END``: NULL condition → NULL, cond rendered once."""
    whens = {True: then} if other is None else {True: then, False: other}
    return sa.case(whens, value=cond)


def _if_sql(site: CallSite, args: list[Any]) -> Any:
    return _case_on(args[0], args[1], args[2] if len(args) > 2 else None)


def _ifs_rule(infos: Sequence[ArgInfo]) -> FType:
    if len(infos) % 2:
        raise TypeCheckError("IFS 的参数应成对出现：条件1, 结果1, 条件2, 结果2, …")
    for i in range(0, len(infos), 2):
        expect(infos[i], FType.BOOL, i, what=f"IFS 的第{i // 2 + 1}个条件")
    return unify(infos, range(1, len(infos), 2), what="IFS 各结果的")


def _ifs_py(site: CallSite, fns: list[PyFn]) -> PyFn:
    pairs = [(fns[i], fns[i + 1]) for i in range(0, len(fns), 2)]

    def run(row: Row) -> object:
        for cond, value in pairs:
            c = cond(row)
            if c is None:
                return None
            if c:
                return value(row)
        raise site.fault("IFS 的条件都不成立（可用 TRUE 作为最后一个条件给出默认值）")

    return run


def _ifs_sql(site: CallSite, args: list[Any]) -> Any:
    expr: Any | None = None
    for i in range(len(args) - 2, -1, -2):
        expr = _case_on(args[i], args[i + 1], expr)
    return expr


# ---------------------------------------------------------------- AND / OR / NOT
def _bools(name: str) -> Any:
    def rule(infos: Sequence[ArgInfo]) -> FType:
        for i, info in enumerate(infos):
            expect(info, FType.BOOL, i, what=f"{name} 的第{i + 1}个参数")
        return FType.BOOL

    return rule


def _kleene(decisive: bool) -> Any:
    """AND (decisive False) / OR (decisive True) with SQL's three-valued logic and fault absorption."""

    def build(site: CallSite, fns: list[PyFn]) -> PyFn:
        def run(row: Row) -> object:
            unknown = False
            fault: FormulaRuntimeError | None = None
            for fn in fns:
                try:
                    v = fn(row)
                except FormulaRuntimeError as err:
                    fault = fault or err
                    continue
                if v is None:
                    unknown = True
                elif v == decisive:
                    return decisive
            if fault is not None:
                raise fault
            return None if unknown else not decisive

        return run

    return build


def _not_py(site: CallSite, fns: list[PyFn]) -> PyFn:
    (f,) = fns

    def run(row: Row) -> object:
        v = f(row)
        return None if v is None else not v

    return run


def _not_sql(site: CallSite, args: list[Any]) -> Any:
    # Parenthesised: SQLAlchemy renders NOT(a) < b as "NOT a < b", which PostgreSQL reads as NOT (a < b),
    # and on SQLite as "a = 0 < b", which SQLite reads as a = (0 < b).
    return Grouping(sa.not_(args[0]))


# ---------------------------------------------------------------- IFBLANK / ISBLANK
def _ifblank_py(site: CallSite, fns: list[PyFn]) -> PyFn:
    f, default = fns

    def run(row: Row) -> object:
        try:
            v = f(row)
        except FormulaRuntimeError:
            v = None
        return default(row) if v is None else v

    return run


def _isblank_py(site: CallSite, fns: list[PyFn]) -> PyFn:
    (f,) = fns

    def run(row: Row) -> object:
        try:
            return f(row) is None
        except FormulaRuntimeError:
            return True

    return run


# ---------------------------------------------------------------- BRACKETS
_ORDERED = (FType.NUMBER, FType.DATE, FType.EDUCATION)


def _brackets_rule(infos: Sequence[ArgInfo]) -> FType:
    if len(infos) % 2:
        raise TypeCheckError("BRACKETS 的参数应为：值, 上限1, 结果1, 上限2, 结果2, …, 默认结果")
    keys = [0, *range(1, len(infos) - 1, 2)]
    dom = unify(infos, keys, what="BRACKETS 的值与上限")
    if dom not in _ORDERED:
        raise TypeCheckError(f"BRACKETS 的值应为数字、日期或学历，实际是{dom.zh}", 0)
    result = unify(infos, [*range(2, len(infos), 2), len(infos) - 1], what="BRACKETS 各结果的")
    _check_ascending(infos, keys[1:], dom)
    return result


def _check_ascending(infos: Sequence[ArgInfo], limits: Sequence[int], dom: FType) -> None:
    from .education import EDUCATION_RANKS

    previous: Any = None
    for i in limits:
        info = infos[i]
        if not info.is_const or info.const is None:
            continue
        key = EDUCATION_RANKS[info.const] if dom is FType.EDUCATION else info.const  # type: ignore[index]
        if previous is not None and key <= previous:
            raise TypeCheckError("BRACKETS 的上限必须从小到大排列", i)
        previous = key


def _brackets_py(site: CallSite, fns: list[PyFn]) -> PyFn:
    value, default = fns[0], fns[-1]
    limits = [fns[i] for i in range(1, len(fns) - 1, 2)]
    results = [fns[i] for i in range(2, len(fns) - 1, 2)]
    if domain(site, [0, *range(1, len(fns) - 1, 2)]) is FType.EDUCATION:
        value = py_rank(site, value)
        limits = [py_rank(site, f) for f in limits]
    consts = [const_of(f) for f in limits]
    if all(c is not NOT_CONST and c is not None for c in consts):
        table = list(zip(consts, results, strict=True))

        def run_table(row: Row) -> object:
            x = value(row)
            if x is None:
                return None
            for limit, result in table:
                if x <= limit:
                    return result(row)
            return default(row)

        return run_table
    pairs = list(zip(limits, results, strict=True))

    def run(row: Row) -> object:
        x = value(row)
        if x is None:
            return None
        for limit_fn, result in pairs:
            limit = limit_fn(row)
            if limit is None:
                return None
            if x <= limit:
                return result(row)
        return default(row)

    return run


def _brackets_sql(site: CallSite, args: list[Any]) -> Any:
    keys = [0, *range(1, len(args) - 1, 2)]
    null = sql_literal(None, site.type)
    edu = domain(site, keys) is FType.EDUCATION
    x = sql_rank(args[0], site.args[0]) if edu else args[0]
    whens: list[tuple[Any, Any]] = [(x.is_(None), null)]
    for i in keys[1:]:
        limit = sql_rank(args[i], site.args[i]) if edu else args[i]
        if not site.args[i].is_const:
            whens.append((limit.is_(None), null))
        whens.append((x <= limit, args[i + 1]))
    return sa.case(*whens, else_=args[-1])


_DOCS = {
    "IF": ("条件成立取第一个结果，否则取第二个；条件为空时结果为空", "IF(条件, 成立时, [不成立时])"),
    "IFS": ("取第一个成立的条件对应的结果", "IFS(条件1, 结果1, 条件2, 结果2, …)"),
    "AND": ("所有条件都成立", "AND(条件1, 条件2, …)"),
    "OR": ("任一条件成立", "OR(条件1, 条件2, …)"),
    "NOT": ("条件取反", "NOT(条件)"),
    "IFBLANK": ("值为空（或无法计算）时取默认值", "IFBLANK(值, 默认值)"),
    "ISBLANK": ("值是否为空（或无法计算）", "ISBLANK(值)"),
    "BRACKETS": (
        "分档：值不超过上限1取结果1，不超过上限2取结果2……都超过取默认结果",
        "BRACKETS(值, 上限1, 结果1, 上限2, 结果2, …, 默认结果)",
    ),
}


def _spec(name: str, rule: Any, arity: tuple[int, int | None], py: Any, sql: Any) -> FunctionSpec:
    zh, signature = _DOCS[name]
    return FunctionSpec(
        name, rule, python_builder=py, sql_builder=sql, min_args=arity[0], max_args=arity[1],
        description_zh=zh, signature_zh=signature,
    )  # fmt: skip


def _ifblank_rule(infos: Sequence[ArgInfo]) -> FType:
    return unify(infos, (0, 1), what="IFBLANK 两个参数的")


def _ifblank_sql(site: CallSite, args: list[Any]) -> Any:
    return sa.func.coalesce(args[0], args[1], type_=args[1].type)


LOGIC_FUNCTIONS = [
    _spec("IF", _if_rule, (2, 3), _if_py, _if_sql),
    _spec("IFS", _ifs_rule, (2, None), _ifs_py, _ifs_sql),
    _spec("AND", _bools("AND"), (1, None), _kleene(False), lambda s, a: sa.and_(*a)),
    _spec("OR", _bools("OR"), (1, None), _kleene(True), lambda s, a: sa.or_(*a)),
    _spec("NOT", _bools("NOT"), (1, 1), _not_py, _not_sql),
    _spec("IFBLANK", _ifblank_rule, (2, 2), _ifblank_py, _ifblank_sql),
    _spec("ISBLANK", lambda infos: FType.BOOL, (1, 1), _isblank_py, lambda s, a: a[0].is_(None)),
    _spec("BRACKETS", _brackets_rule, (4, None), _brackets_py, _brackets_sql),
]

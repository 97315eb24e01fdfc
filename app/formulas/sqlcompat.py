"""Dialect-specific SQL pieces, so one formula expression runs identically on SQLite and PostgreSQL.

Why custom constructs: a few functions differ between the two databases and SQLAlchemy's
``@compiles`` lets one expression render differently per dialect:
- MAX/MIN must propagate NULL (like the Python back end).  SQLite's multi-argument ``max()``
  already does; PostgreSQL's ``GREATEST`` ignores NULLs, so a NULL argument is mapped to
  +Infinity (MAX) or -Infinity (MIN) and the result mapped back to NULL -- each argument is
  rendered once, so nested MAX/MIN do not blow up the SQL.
- SQLAlchemy's pysqlite dialect overrides SQLite's ``floor()`` with Python's ``math.floor``
  (which raises on NULL), so FLOOR renders as ``-ceil(-x)`` on SQLite.
- ``ceil``/``power`` need SQLite's math functions; this module probes the linked SQLite
  once and, if they are missing, renders CEILING/FLOOR with CAST (``^`` then cannot be compiled).
- Text ordering: PostgreSQL compares text by the database collation; ``COLLATE "C"`` gives the
  code-point order that SQLite and Python use.
"""

from __future__ import annotations

import functools
import sqlite3
from typing import Any

from sqlalchemy import Double, String, exc
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

SQLITE_MATH: bool | None = None
"""Force (True/False) or probe (None) whether SQLite has ceil/floor/power."""


@functools.cache
def _probe_sqlite_math() -> bool:
    con = sqlite3.connect(":memory:")
    try:
        con.execute("SELECT ceil(1.5), floor(1.5), power(2.0, 3.0)").fetchone()
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        con.close()


def sqlite_has_math() -> bool:
    return _probe_sqlite_math() if SQLITE_MATH is None else SQLITE_MATH


class _NumFn(FunctionElement[float]):
    type = Double()
    inherit_cache = True


class fx_ceil(_NumFn):
    name = "fx_ceil"
    inherit_cache = True


class fx_floor(_NumFn):
    name = "fx_floor"
    inherit_cache = True


class fx_power(_NumFn):
    name = "fx_power"
    inherit_cache = True


class fx_greatest(_NumFn):
    name = "fx_greatest"
    inherit_cache = True


class fx_least(_NumFn):
    name = "fx_least"
    inherit_cache = True


class fx_text_c(FunctionElement[str]):
    """Text compared in code-point order."""

    type = String()
    inherit_cache = True
    name = "fx_text_c"


def _args(element: FunctionElement[Any], compiler: Any, **kw: Any) -> list[str]:
    return [compiler.process(arg, **kw) for arg in element.clauses]


@compiles(fx_ceil)
def _ceil(element: fx_ceil, compiler: Any, **kw: Any) -> str:
    return f"ceil({_args(element, compiler, **kw)[0]})"


@compiles(fx_floor)
def _floor(element: fx_floor, compiler: Any, **kw: Any) -> str:
    return f"floor({_args(element, compiler, **kw)[0]})"


@compiles(fx_ceil, "sqlite")
def _ceil_sqlite(element: fx_ceil, compiler: Any, **kw: Any) -> str:
    if sqlite_has_math():
        return _ceil(element, compiler, **kw)
    x = [_args(element, compiler, **kw)[0] for _ in range(3)]
    return f"CAST(CAST({x[0]} AS INTEGER) + ({x[1]} > CAST({x[2]} AS INTEGER)) AS REAL)"


@compiles(fx_floor, "sqlite")
def _floor_sqlite(element: fx_floor, compiler: Any, **kw: Any) -> str:
    if sqlite_has_math():
        # SQLAlchemy's pysqlite dialect replaces floor() by Python's math.floor, which fails on NULL.
        return f"(-ceil(-({_args(element, compiler, **kw)[0]})))"
    x = [_args(element, compiler, **kw)[0] for _ in range(3)]
    return f"CAST(CAST({x[0]} AS INTEGER) - ({x[1]} < CAST({x[2]} AS INTEGER)) AS REAL)"


@compiles(fx_power)
def _power(element: fx_power, compiler: Any, **kw: Any) -> str:
    base, exponent = _args(element, compiler, **kw)
    return f"power({base}, {exponent})"


@compiles(fx_power, "sqlite")
def _power_sqlite(element: fx_power, compiler: Any, **kw: Any) -> str:
    if not sqlite_has_math():
        raise exc.CompileError("此 SQLite 未启用数学函数，无法在 SQL 中计算乘方「^」")
    return _power(element, compiler, **kw)


def _extreme(element: FunctionElement[Any], compiler: Any, fn: str, sentinel: str, **kw: Any) -> str:
    args = _args(element, compiler, **kw)
    if len(args) == 1:
        return f"({args[0]})"  # parenthesised: the caller may apply unary minus to a "function call"
    inf = f"CAST('{sentinel}' AS DOUBLE PRECISION)"
    inner = ", ".join(f"COALESCE({a}, {inf})" for a in args)
    return f"NULLIF({fn}({inner}), {inf})"


@compiles(fx_greatest)
def _greatest(element: fx_greatest, compiler: Any, **kw: Any) -> str:
    return _extreme(element, compiler, "GREATEST", "Infinity", **kw)


@compiles(fx_least)
def _least(element: fx_least, compiler: Any, **kw: Any) -> str:
    return _extreme(element, compiler, "LEAST", "-Infinity", **kw)


def _sqlite_extreme(element: FunctionElement[Any], compiler: Any, fn: str, **kw: Any) -> str:
    args = _args(element, compiler, **kw)
    # One argument would make SQLite's max()/min() an aggregate.
    return f"({args[0]})" if len(args) == 1 else f"{fn}({', '.join(args)})"


@compiles(fx_greatest, "sqlite")
def _greatest_sqlite(element: fx_greatest, compiler: Any, **kw: Any) -> str:
    return _sqlite_extreme(element, compiler, "max", **kw)


@compiles(fx_least, "sqlite")
def _least_sqlite(element: fx_least, compiler: Any, **kw: Any) -> str:
    return _sqlite_extreme(element, compiler, "min", **kw)


@compiles(fx_text_c)
def _text_c(element: fx_text_c, compiler: Any, **kw: Any) -> str:
    return f"({_args(element, compiler, **kw)[0]})"


@compiles(fx_text_c, "postgresql")
def _text_c_pg(element: fx_text_c, compiler: Any, **kw: Any) -> str:
    return f'(({_args(element, compiler, **kw)[0]}) COLLATE "C")'

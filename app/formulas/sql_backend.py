"""SQL back end: compile a typed tree into one SQLAlchemy Core expression.

Why: quotas for a county, or the whole country, are computed by one set-based statement
(``UPDATE … SET quota = <expression>``) instead of a Python loop.  The expression runs on SQLite
and PostgreSQL with the same results as the Python back end (a property test holds them equal):
- every NUMBER is a double precision float (columns are cast, literals are bound as floats), so
  there is no integer division and no ``numeric`` rounding on PostgreSQL;
- where the Python evaluator raises a runtime fault (division by zero …) SQL yields NULL
  (``x / NULLIF(y, 0)``); callers treat a NULL result of non-NULL inputs as "cannot compute";
- BOOL results are ``type_coerce``-d to Boolean so SQLite's 0/1 come back as ``False``/``True``.

Some SQL implementations repeat an argument (ROUND needs the sign and the magnitude of ``x``);
nested far enough that could explode the SQL text, so the expanded size is capped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from .ast import TCall, TConst, TNode, TVar
from .errors import FormulaError
from .types import FType

MAX_SQL_NODES = 20_000

_SA_TYPES: dict[FType, Any] = {
    FType.NUMBER: sa.Double(),
    FType.TEXT: sa.String(),
    FType.EDUCATION: sa.String(),
    FType.BOOL: sa.Boolean(),
    FType.DATE: sa.Date(),
}


def sa_type(ftype: FType) -> Any:
    return _SA_TYPES[ftype]


def sql_literal(value: object, ftype: FType) -> ColumnElement[Any]:
    """A typed bound literal (a typed NULL for ``None``)."""
    if value is None:
        return sa.cast(sa.null(), sa_type(ftype))
    if ftype is FType.NUMBER:
        return sa.literal(float(value), sa.Double())  # type: ignore[arg-type]
    if ftype is FType.DATE:
        assert isinstance(value, dt.date)
    return sa.literal(value, sa_type(ftype))


def compile_sql(node: TNode, columns: Mapping[str, Any], text: str = "") -> ColumnElement[Any]:
    """The SQL expression of a typed tree; ``columns`` maps variable codes to column expressions."""
    expr = _compile(node, columns, text)
    size = _tree_size(expr, {})
    if size > MAX_SQL_NODES:
        raise FormulaError(
            f"公式展开成 SQL 后过于复杂（{size}个节点），请减少 ROUND、CEILING、BRACKETS 等函数的相互嵌套",
            text=text,
            kind="limit",
        )
    return sa.type_coerce(expr, sa_type(node.type))


def _compile(node: TNode, columns: Mapping[str, Any], text: str) -> Any:
    if isinstance(node, TConst):
        return sql_literal(node.value, node.type)
    if isinstance(node, TVar):
        var = node.variable
        try:
            column = columns[var.code]
        except KeyError:
            raise FormulaError(
                f"缺少变量「{var.label}」（{var.code}）对应的列", text=text, pos=node.pos, kind="input"
            ) from None
        if var.type is FType.NUMBER:
            return sa.cast(column, sa.Double())
        return column
    assert isinstance(node, TCall)
    args = [_compile(a, columns, text) for a in node.args]
    spec = node.spec
    if spec.sql_builder is not None:
        return spec.sql_builder(node.site, args)
    assert spec.sql is not None
    return spec.sql(*args)


def _tree_size(element: Any, memo: dict[int, int]) -> int:
    """Size of the expression as rendered (shared sub-expressions counted each time they appear)."""
    key = id(element)
    if key in memo:
        return memo[key]
    total = 1
    for child in element.get_children():
        total += _tree_size(child, memo)
    memo[key] = total
    return total

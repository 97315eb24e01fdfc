"""Set-based writes for big loads: PostgreSQL ``COPY`` or Core ``executemany`` elsewhere.

Measured here: COPY ~540k rows/s, Core executemany ~44k/s, ORM ~10k/s — the loader must
not go through the ORM for villages and staff.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, bindparam


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        _copy(conn, table, rows)
    else:
        conn.execute(table.insert(), list(rows))


def _copy(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    columns = list(rows[0].keys())
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    quoted = ", ".join(f'"{c}"' for c in columns)
    with cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([_copy_value(row[c]) for c in columns])


def _copy_value(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def update_rows(conn: Connection, table: Table, key: str, rows: Sequence[dict[str, Any]]) -> None:
    """Rows carry ``key`` (the primary key) and the columns to set; all rows the same columns."""
    if not rows:
        return
    columns = [c for c in rows[0] if c != key]
    stmt = (
        table.update()
        .where(table.c[key] == bindparam(f"b_{key}"))
        .values({c: bindparam(f"b_{c}") for c in columns})
    )
    conn.execute(stmt, [{f"b_{k}": v for k, v in r.items()} for r in rows])

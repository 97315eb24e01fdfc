"""Database fixtures for the formula tests: SQLite in memory always, PostgreSQL when DATABASE_URL says so.

Inputs go into a TEMPORARY table (dropped with the connection) inside a transaction that is rolled
back, so nothing is left in a shared database.  ``formula_db.sql_values(formula, rows)`` returns
what the SQL back end computes for each row; tests compare it with the Python back end.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
import sqlalchemy as sa

from app.formulas import Formula, FType, Variable

# code, label, formula type, column type
COLUMNS: list[tuple[str, str, FType, Any]] = [
    ("resident_pop", "计生常住人口", FType.NUMBER, sa.Integer()),
    ("registered_pop", "户籍人口", FType.NUMBER, sa.Integer()),
    ("floating_pop", "流动人口", FType.NUMBER, sa.Integer()),
    ("age", "年龄", FType.NUMBER, sa.Integer()),
    ("birth_date", "出生日期", FType.DATE, sa.Date()),
    ("deadline", "截止日期", FType.DATE, sa.Date()),
    ("education", "学历", FType.EDUCATION, sa.String(16)),
    ("name", "姓名", FType.TEXT, sa.String(40)),
    ("is_resident", "本村户籍", FType.BOOL, sa.Boolean()),
    ("score", "考核得分", FType.NUMBER, sa.Float()),
    ("amount", "金额", FType.NUMBER, sa.Numeric(14, 2)),
    # generic names for the property tests
    ("n1", "整数甲", FType.NUMBER, sa.Integer()),
    ("n2", "小数乙", FType.NUMBER, sa.Float()),
    ("n3", "金额丙", FType.NUMBER, sa.Numeric(14, 2)),
    ("b1", "条件甲", FType.BOOL, sa.Boolean()),
    ("b2", "条件乙", FType.BOOL, sa.Boolean()),
    ("e1", "学历甲", FType.EDUCATION, sa.String(16)),
    ("e2", "学历乙", FType.EDUCATION, sa.String(16)),
    ("t1", "文本甲", FType.TEXT, sa.String(40)),
    ("d1", "日期甲", FType.DATE, sa.Date()),
    ("d2", "日期乙", FType.DATE, sa.Date()),
]
VARIABLES = [Variable(code, label, ftype) for code, label, ftype, _ in COLUMNS]


def _postgres_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url.startswith(("postgresql", "postgres:")):
        return None
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class FormulaDB:
    """One connection holding a TEMP table with a column per test variable."""

    def __init__(self, name: str, engine: sa.Engine):
        self.name = name
        self.engine = engine
        self.metadata = sa.MetaData()
        self.table = sa.Table(
            "formula_inputs",
            self.metadata,
            sa.Column("row_id", sa.Integer, primary_key=True),
            *(sa.Column(code, coltype) for code, _, _, coltype in COLUMNS),
            prefixes=["TEMPORARY"],
        )
        self.columns = {c.name: c for c in self.table.c}
        self.conn = engine.connect()
        with self.conn.begin():
            self.table.create(self.conn)  # TEMPORARY: gone when the connection closes

    def close(self) -> None:
        self.conn.close()
        self.engine.dispose()

    def sql_values(self, formula: Formula, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Insert ``rows`` (missing columns are NULL), select the formula's SQL, roll the rows back."""
        expr = formula.to_sql(self.columns)
        full = [{"row_id": i, **{code: row.get(code) for code, *_ in COLUMNS}} for i, row in enumerate(rows)]
        # One short transaction per call, rolled back (one long one with savepoints exhausts
        # PostgreSQL's lock table after a few thousand examples).
        transaction = self.conn.begin()
        try:
            if full:
                self.conn.execute(self.table.insert(), full)
            stmt = sa.select(expr).select_from(self.table).order_by(self.table.c.row_id)
            return list(self.conn.execute(stmt).scalars().all())
        finally:
            transaction.rollback()


def _databases() -> list[Any]:
    params = [pytest.param("sqlite", id="sqlite")]
    if _postgres_url():
        params.append(pytest.param("postgresql", id="postgresql"))
    return params


@pytest.fixture(scope="session", params=_databases())
def formula_db(request: pytest.FixtureRequest) -> Iterator[FormulaDB]:
    if request.param == "sqlite":
        engine = sa.create_engine("sqlite://")
    else:
        url = _postgres_url()
        assert url
        engine = sa.create_engine(url)
    db = FormulaDB(request.param, engine)
    yield db
    db.close()


@pytest.fixture(scope="session")
def variables() -> list[Variable]:
    return VARIABLES

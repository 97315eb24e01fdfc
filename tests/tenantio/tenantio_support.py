"""Helpers for the tenant folder tests: whole-database fingerprints and small CSV edits."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

from sqlalchemy import inspect, select, text

from app.extensions import db
from app.tenantio.problems import Problem, TenantFolderInvalid
from support import drain_jobs

Fingerprint = dict[str, tuple[int, str]]


def db_fingerprint() -> Fingerprint:
    """Row count and content hash of every table in the metadata, read with plain Core selects.

    Core selects are not tenant-filtered; on PostgreSQL row-level security is opened for this
    read-only transaction so every tenant's rows are seen.
    """
    drain_jobs()
    out: Fingerprint = {}
    with db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT set_config('countydesk.all_tenants', 'on', true)"))
        existing = set(inspect(conn).get_table_names())
        for table in db.metadata.sorted_tables:
            if table.name not in existing:
                continue
            rows = sorted(repr(tuple(r)) for r in conn.execute(select(table)))
            out[table.name] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
    return out


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def write_rows(path: Path, rows: list[dict[str, str]], header: list[str] | None = None,
               encoding: str = "utf-8") -> None:
    header = header or list(rows[0])
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def edit_row(path: Path, line: int, **changes: str) -> dict[str, str]:
    """Change columns of the data row shown on ``line`` (the header is line 1); returns the old row."""
    rows = read_rows(path)
    old = dict(rows[line - 2])
    rows[line - 2].update(changes)
    write_rows(path, rows)
    return old


def append_rows(path: Path, *new: dict[str, str]) -> int:
    """Append rows; returns the line of the first one."""
    rows = read_rows(path)
    first = len(rows) + 2
    write_rows(path, rows + [dict.fromkeys(rows[0], "") | r for r in new])
    return first


def find_line(path: Path, **match: str) -> int:
    for line, row in enumerate(read_rows(path), start=2):
        if all(row[k] == v for k, v in match.items()):
            return line
    raise LookupError(match)


def problem_at(exc: TenantFolderInvalid, file: str, line: int | None, field: str | None) -> Problem:
    found = [p for p in exc.problems if (p.file, p.line, p.field) == (file, line, field)]
    assert found, f"no problem at {file}:{line}:{field} in\n{exc.message}"
    return found[0]


def has_chinese(text_: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text_)

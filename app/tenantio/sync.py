"""Make a tenant's rows of one table match wanted rows, matched by natural key; count what changed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, select

from app.tenantio.bulk import insert_rows, update_rows


@dataclass
class LoadReport:
    slug: str
    tenant_id: int = 0
    inserted: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str, table: str, n: int) -> None:
        if not n:
            return
        target = self.inserted if kind == "insert" else self.updated
        target[table] = target.get(table, 0) + n

    @property
    def changed(self) -> bool:
        return any(self.inserted.values()) or any(self.updated.values())

    def summary(self) -> str:
        parts = [f"{t} 新增 {n}" for t, n in self.inserted.items() if n]
        parts += [f"{t} 更新 {n}" for t, n in self.updated.items() if n]
        return f"{self.slug}：" + ("；".join(parts) if parts else "无变化")


@dataclass
class Target:
    """The tenant being loaded, inside the load's transaction."""

    conn: Connection
    tenant_id: int
    report: LoadReport
    fresh: bool = False
    """The tenant row was just created, so none of its rows exist yet (nothing to read back)."""


Key = tuple[Any, ...]


def sync_rows(target: Target, table: Table, key_cols: tuple[str, ...], wanted: list[dict[str, Any]],
              label: str, new_ids: dict[Key, int] | None = None) -> int:
    """Insert rows whose key is new, update rows whose other values differ; returns rows inserted.

    ``new_ids`` gives primary keys allocated for the new keys. Rows of the tenant that are not
    wanted are left alone (a folder never deletes).
    """
    if not wanted:
        return 0
    conn, tenant_id = target.conn, target.tenant_id
    value_cols = [c for c in wanted[0] if c not in key_cols]
    nk = len(key_cols)
    existing: dict[Key, Any] = {}
    if not target.fresh:
        stmt = select(table.c.id, *[table.c[c] for c in (*key_cols, *value_cols)]) \
            .where(table.c.tenant_id == tenant_id)
        existing = {tuple(r[1:nk + 1]): r for r in conn.execute(stmt)}
    new_rows, changed = [], []
    for w in wanted:
        key = tuple([w[k] for k in key_cols])
        current = existing.get(key)
        if current is None:
            new_rows.append({"tenant_id": tenant_id, **w} if new_ids is None
                            else {"id": new_ids[key], "tenant_id": tenant_id, **w})
        elif tuple(current[nk + 1:]) != tuple([w[c] for c in value_cols]):
            changed.append({"id": current[0], **{c: w[c] for c in value_cols}})
    insert_rows(conn, table, new_rows)
    update_rows(conn, table, "id", changed)
    target.report.count("insert", label, len(new_rows))
    target.report.count("update", label, len(changed))
    return len(new_rows)

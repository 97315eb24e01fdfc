"""Make a tenant's rows of one table match wanted rows, matched by natural key; count what changed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, func, select

from app.core.audit import record_bulk_updates
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
    audit: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
    for w in wanted:
        key = tuple([w[k] for k in key_cols])
        current = existing.get(key)
        if current is None:
            new_rows.append({"tenant_id": tenant_id, **w} if new_ids is None
                            else {"id": new_ids[key], "tenant_id": tenant_id, **w})
        elif tuple(current[nk + 1:]) != tuple([w[c] for c in value_cols]):
            changed.append({"id": current[0], **{c: w[c] for c in value_cols}})
            old = dict(zip(value_cols, current[nk + 1:], strict=True))
            keys = [c for c in value_cols if old[c] != w[c]]
            audit.append((current[0], {c: old[c] for c in keys}, {c: w[c] for c in keys}))
    insert_rows(conn, table, new_rows)
    update_rows(conn, table, "id", changed)
    record_bulk_updates(conn, tenant_id, table.name, audit, source="loader")
    target.report.count("insert", label, len(new_rows))
    target.report.count("update", label, len(changed))
    return len(new_rows)


def insert_new_versions(target: Target, table: Table, wanted: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> int:
    """Versioned definitions (forms, workflows): insert version n+1 of each new or changed spec only.

    ``wanted`` holds (code, spec, other columns). A spec equal to the latest stored version of its
    code is left alone, so loading the same folder twice adds nothing and earlier versions stay as
    they were (records and cases keep the version they started with). Returns the versions inserted.
    """
    t = table
    latest = (select(t.c.code, func.max(t.c.version).label("version"))
              .where(t.c.tenant_id == target.tenant_id).group_by(t.c.code).subquery())
    rows = target.conn.execute(
        select(t.c.code, t.c.version, t.c.spec)
        .join(latest, (latest.c.code == t.c.code) & (latest.c.version == t.c.version))
        .where(t.c.tenant_id == target.tenant_id))
    current = {r.code: (r.version, r.spec) for r in rows}
    new_rows = []
    for code, spec, columns in wanted:
        version, old = current.get(code, (0, None))
        if old != spec:
            new_rows.append({**columns, "tenant_id": target.tenant_id, "code": code, "version": version + 1,
                             "spec": spec})
    if new_rows:
        target.conn.execute(t.insert(), new_rows)
    target.report.count("insert", t.name, len(new_rows))
    return len(new_rows)

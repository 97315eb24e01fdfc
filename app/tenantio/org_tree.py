"""Org units: upserted level by level (parents get ids first), then every path made right.

A folder may move a unit (new parent) or change its level. Its own row and the rows in the
folder get their new paths directly; units that are only in the database (a folder never
deletes) hang under a moved unit by ``parent_id``, so after the upsert every path of the
tenant is recomputed from the parent links and the stale ones are updated. A move that would
leave such a unit at the wrong level (a 村民小组 under a 镇) is refused like any bad folder.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.orgs.models import ORG_LEVEL_LABELS as LABELS
from app.orgs.models import ORG_LEVELS, OrgUnit
from app.tenantio.bulk import allocate_ids, update_rows
from app.tenantio.folder import Bundle, OrgRow
from app.tenantio.problems import Problems
from app.tenantio.sync import Target, sync_rows


def upsert_orgs(target: Target, bundle: Bundle) -> dict[str, int]:
    """Returns the id of every org unit of the tenant by code."""
    t = OrgUnit.__table__
    ids = {} if target.fresh else _id_map(target)
    new_codes = [o.code for o in bundle.orgs if o.code not in ids]
    allocated = allocate_ids(target.conn, t, len(new_codes))
    if allocated is not None:  # ids known up front: every level in one statement
        ids.update(zip(new_codes, allocated, strict=True))
        sync_rows(target, t, ("code",), _wanted(bundle.orgs, ids), "org_unit",
                  new_ids={(c,): i for c, i in zip(new_codes, allocated, strict=True)})
    else:  # level by level, reading the new ids back before their children need them
        for level in ORG_LEVELS:
            if sync_rows(target, t, ("code",), _wanted([o for o in bundle.orgs if o.level == level], ids),
                         "org_unit"):
                ids = _id_map(target)
    if target.report.updated.get("org_unit"):  # only a changed unit can leave others stale
        _fix_rest_of_tree(target, bundle)
    return ids


def _wanted(orgs: list[OrgRow], ids: dict[str, int]) -> list[dict[str, Any]]:
    return [{"code": o.code, "name": o.name, "level": o.level, "path": o.path,
             "parent_id": ids[o.parent_code] if o.parent_code else None} for o in orgs]


def _id_map(target: Target) -> dict[str, int]:
    t = OrgUnit.__table__
    stmt = select(t.c.id, t.c.code).where(t.c.tenant_id == target.tenant_id)
    return {r.code: r.id for r in target.conn.execute(stmt)}


def _fix_rest_of_tree(target: Target, bundle: Bundle) -> None:
    t = OrgUnit.__table__
    stmt = select(t.c.id, t.c.parent_id, t.c.code, t.c.level, t.c.path) \
        .where(t.c.tenant_id == target.tenant_id)
    units = {r.id: r for r in target.conn.execute(stmt)}
    in_folder = {o.code: o for o in bundle.orgs}
    problems = Problems()
    paths: dict[int, str] = {}
    stale: list[dict[str, Any]] = []
    for unit in units.values():
        path = _path(unit.id, units, paths)
        if path != unit.path:
            stale.append({"id": unit.id, "path": path})
        parent = units.get(unit.parent_id)
        if unit.code in in_folder or parent is None or parent.code not in in_folder:
            continue
        if ORG_LEVELS.index(parent.level) + 1 != ORG_LEVELS.index(unit.level):
            moved = in_folder[parent.code]
            problems.add(bundle.org_file, moved.line, "level",
                         f"「{moved.name}」改为{LABELS[moved.level]}后，其下仍有不在本目录中的"
                         f"{LABELS[unit.level]}「{unit.code}」；请在 orgunits 中一并调整该单位")
    problems.raise_if_any()
    update_rows(target.conn, t, "id", stale)
    target.report.count("update", "org_unit", len(stale))


def _path(unit_id: int, units: dict[int, Any], paths: dict[int, str]) -> str:
    """``/county/town/…/code/`` from the parent links (iteratively; a broken chain stops at the root)."""
    chain: list[int] = []
    current: int | None = unit_id
    while current is not None and current not in paths and current in units and current not in chain:
        chain.append(current)
        current = units[current].parent_id
    prefix = paths.get(current, "/") if current is not None else "/"
    for uid in reversed(chain):
        prefix = paths[uid] = f"{prefix}{units[uid].code}/"
    return paths[unit_id]

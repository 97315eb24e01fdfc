"""``countydesk tenant load DIR``: makes the database match a tenant folder, idempotently.

Validation runs first over the whole folder (see ``folder.py``); then one transaction
upserts the tenant, positions, org units (level by level, so parents get ids first),
population facts and the roster. Rows are matched by their natural keys, so loading the
same folder twice changes nothing. Rows missing from the folder are kept, never deleted:
a folder adds and corrects, it does not erase history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from app.core.models import Tenant
from app.core.tenancy import sync_db_tenant
from app.extensions import db
from app.orgs.models import ORG_LEVELS, POPULATION_FIELDS, OrgUnit, PopulationFact
from app.staffing.models import Appointment, Person, Position
from app.tenantio.bulk import insert_rows, update_rows
from app.tenantio.folder import Bundle, read_folder

TENANT_KEYS = ("slug", "name", "region", "locale")


@dataclass
class LoadReport:
    slug: str
    tenant_id: int = 0
    inserted: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str, table: str, n: int) -> None:
        target = self.inserted if kind == "insert" else self.updated
        target[table] = target.get(table, 0) + n

    @property
    def changed(self) -> bool:
        return any(self.inserted.values()) or any(self.updated.values())

    def summary(self) -> str:
        parts = [f"{t} 新增 {n}" for t, n in self.inserted.items() if n]
        parts += [f"{t} 更新 {n}" for t, n in self.updated.items() if n]
        return f"{self.slug}：" + ("；".join(parts) if parts else "无变化")


def load_tenant_folder(folder: Path | str) -> LoadReport:
    """Validate then load; raises ``TenantFolderInvalid`` (all problems) before writing anything."""
    bundle, problems = read_folder(Path(folder))
    problems.raise_if_any()
    assert bundle is not None
    session = db.session
    try:
        report = _apply(session.connection(), bundle)
        session.commit()
    except Exception:
        session.rollback()
        raise
    return report


def _apply(conn: Connection, bundle: Bundle) -> LoadReport:
    cfg = bundle.config
    report = LoadReport(cfg["slug"])
    tenant_id = _upsert_tenant(conn, cfg, report)
    sync_db_tenant(conn, tenant_id)  # row-level security: this transaction acts for this tenant
    report.tenant_id = tenant_id
    _upsert_positions(conn, tenant_id, cfg["positions"], report)
    org_ids = _upsert_orgs(conn, tenant_id, bundle, report)
    _upsert_population(conn, tenant_id, bundle, org_ids, report)
    _upsert_roster(conn, tenant_id, bundle, org_ids, report)
    return report


def _upsert_tenant(conn: Connection, cfg: dict[str, Any], report: LoadReport) -> int:
    t = Tenant.__table__
    values = {k: cfg[k] for k in TENANT_KEYS}
    values["settings"] = {"packs": cfg["packs"], "settings": cfg["settings"]}
    row = conn.execute(select(t.c.id, *[t.c[k] for k in (*TENANT_KEYS, "settings")])
                       .where(t.c.slug == cfg["slug"])).first()
    if row is None:
        conn.execute(t.insert().values(values))
        report.count("insert", "tenant", 1)
        tenant_id = conn.execute(select(t.c.id).where(t.c.slug == cfg["slug"])).scalar_one()
        return int(tenant_id)
    if any(getattr(row, k) != v for k, v in values.items()):
        conn.execute(t.update().where(t.c.id == row.id).values(values))
        report.count("update", "tenant", 1)
    return int(row.id)


def _sync(conn: Connection, table: Any, tenant_id: int, key_cols: tuple[str, ...],
          wanted: list[dict[str, Any]], report: LoadReport, label: str) -> None:
    """Insert rows whose key is new, update rows whose other values differ."""
    cols = list(wanted[0].keys()) if wanted else []
    if not cols:
        return
    stmt = select(table.c.id, *[table.c[c] for c in cols]).where(table.c.tenant_id == tenant_id)
    existing = {tuple(getattr(r, k) for k in key_cols): r for r in conn.execute(stmt)}
    new_rows, changed = [], []
    for w in wanted:
        current = existing.get(tuple(w[k] for k in key_cols))
        if current is None:
            new_rows.append({"tenant_id": tenant_id, **w})
        elif any(getattr(current, c) != w[c] for c in cols):
            changed.append({"id": current.id, **{c: w[c] for c in cols if c not in key_cols}})
    insert_rows(conn, table, new_rows)
    update_rows(conn, table, "id", changed)
    report.count("insert", label, len(new_rows))
    report.count("update", label, len(changed))


def _upsert_positions(conn: Connection, tenant_id: int, positions: list[dict[str, Any]],
                      report: LoadReport) -> None:
    wanted = [{"code": p["code"], "name": p["name"], "org_level": p["org_level"],
               "quota_formula": p.get("quota"), "eligibility_formula": p.get("eligibility"),
               "term_years": p.get("term_years"), "rehire_ban_years": p.get("rehire_ban_years")}
              for p in positions]
    _sync(conn, Position.__table__, tenant_id, ("code",), wanted, report, "position")


def _org_id_map(conn: Connection, tenant_id: int) -> dict[str, int]:
    t = OrgUnit.__table__
    return {r.code: r.id for r in conn.execute(select(t.c.id, t.c.code).where(t.c.tenant_id == tenant_id))}


def _upsert_orgs(conn: Connection, tenant_id: int, bundle: Bundle, report: LoadReport) -> dict[str, int]:
    t = OrgUnit.__table__
    ids = _org_id_map(conn, tenant_id)
    for level in ORG_LEVELS:
        wanted = [{"code": o.code, "name": o.name, "level": o.level, "path": o.path,
                   "parent_id": ids[o.parent_code] if o.parent_code else None}
                  for o in bundle.orgs if o.level == level]
        if wanted:
            _sync(conn, t, tenant_id, ("code",), wanted, report, "org_unit")
            ids = _org_id_map(conn, tenant_id)
    return ids


def _upsert_population(conn: Connection, tenant_id: int, bundle: Bundle, org_ids: dict[str, int],
                       report: LoadReport) -> None:
    wanted = [{"org_unit_id": org_ids[r["org_code"]], "period": r["period"],
               **{f: r[f] for f in POPULATION_FIELDS}} for r in bundle.population]
    _sync(conn, PopulationFact.__table__, tenant_id, ("org_unit_id", "period"), wanted, report,
          "population_fact")


def _upsert_roster(conn: Connection, tenant_id: int, bundle: Bundle, org_ids: dict[str, int],
                   report: LoadReport) -> None:
    from app.core.idcard import parse_id_number

    people: dict[str, dict[str, Any]] = {}
    for r in bundle.roster:
        if r["id_number"] in people:
            continue
        info = parse_id_number(r["id_number"])
        people[r["id_number"]] = {"id_number": info.number, "name": r["name"], "sex": info.sex,
                                  "birth_date": info.birth_date, "education": r["education"] or None,
                                  "phone": r["phone"] or None, "bank_card": r["bank_card"] or None,
                                  "org_unit_id": org_ids[r["org_code"]]}
    p = Person.__table__
    _sync(conn, p, tenant_id, ("id_number",), list(people.values()), report, "person")
    person_ids = {r.id_number: r.id for r in conn.execute(
        select(p.c.id, p.c.id_number).where(p.c.tenant_id == tenant_id))}
    wanted = [{"person_id": person_ids[r["id_number"]], "position_code": r["position_code"],
               "org_unit_id": org_ids[r["org_code"]], "start_date": r["start"], "end_date": r["end"],
               "status": r["status"]} for r in bundle.roster]
    _sync(conn, Appointment.__table__, tenant_id, ("person_id", "position_code", "start_date"), wanted,
          report, "appointment")

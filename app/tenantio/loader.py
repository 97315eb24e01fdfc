"""``countydesk tenant load DIR``: makes the database match a tenant folder, idempotently.

Validation runs first over the whole folder (see ``folder.py``); then one transaction
upserts the tenant, positions, org units (level by level, so parents get ids first),
population facts and the roster. Rows are matched by their natural keys, so loading the
same folder twice changes nothing. Rows missing from the folder are kept, never deleted:
a folder adds and corrects, it does not erase history.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from app.core.audit import record_summary
from app.core.models import Tenant
from app.core.tenancy import sync_db_tenant
from app.extensions import db
from app.forms.custom_fields import sync_custom_fields
from app.forms.loading import sync_forms
from app.orgs.models import POPULATION_FIELDS, OrgUnit, PopulationFact
from app.staffing.models import Appointment, Person, Position
from app.staffing.rules import sync_rule_versions
from app.tenantio.bulk import allocate_ids
from app.tenantio.folder import Bundle, read_folder
from app.tenantio.org_tree import upsert_orgs
from app.tenantio.problems import Problems
from app.tenantio.roster_file import primary_rows
from app.tenantio.sync import LoadReport, Target, sync_rows
from app.workflows.loading import sync_workflows

__all__ = ["LoadReport", "load_tenant_folder"]

TENANT_KEYS = ("slug", "name", "region", "locale")
FILE = "tenant.yaml"


def load_tenant_folder(folder: Path | str, *, rename: bool = False) -> LoadReport:
    """Validate then load; raises ``TenantFolderInvalid`` (all problems) before writing anything.

    ``rename``: allow the folder to change an existing county's name, region or root unit (its
    identity). Without it such a folder is refused: a folder copied from another county under
    this county's slug would otherwise rewrite this county, and loads never delete.
    """
    bundle, problems = read_folder(Path(folder))
    problems.raise_if_any()
    assert bundle is not None
    session = db.session
    try:
        report = _apply(session.connection(), bundle, rename)
        session.commit()
    except Exception:
        session.rollback()
        raise
    from app.staffing.auto_recompute import recompute_after_load  # bulk writes: no ORM event saw them

    recompute_after_load(report.tenant_id, report.inserted, report.updated, {r["period"] for r in bundle.population})
    return report


def _apply(conn: Connection, bundle: Bundle, rename: bool = False) -> LoadReport:
    cfg = bundle.config
    report = LoadReport(cfg["slug"])
    tenant_id, fresh = _upsert_tenant(conn, cfg, report, bundle if not rename else None)
    report.tenant_id = tenant_id
    target = Target(conn, tenant_id, report, fresh)
    _upsert_positions(target, cfg["positions"])
    report.count("insert", "position_rule", sync_rule_versions(conn, tenant_id, cfg["positions"]))
    org_ids = upsert_orgs(target, bundle)
    _upsert_population(target, bundle, org_ids)
    _upsert_roster(target, bundle, org_ids)
    sync_forms(target, cfg["forms"])
    sync_custom_fields(target, cfg.get("custom_fields") or {})
    sync_workflows(target, cfg["workflows"])
    if report.changed:  # one summary event: the bulk writes above are not seen row by row
        record_summary(conn, tenant_id, "tenant_load", tenant_id, "create" if fresh else "update",
                       {"inserted": report.inserted, "updated": report.updated}, source="loader")
    return report


def _upsert_tenant(conn: Connection, cfg: dict[str, Any], report: LoadReport,
                   guard: Bundle | None) -> tuple[int, bool]:
    """The tenant's id, and whether it was just created; the transaction then acts for that tenant.

    ``guard``: the folder whose identity must match the stored county's (None: ``--rename``).
    """
    t = Tenant.__table__
    values = {k: cfg[k] for k in TENANT_KEYS}
    values["settings"] = {"packs": cfg["packs"], "settings": cfg["settings"]}
    row = conn.execute(select(t.c.id, *[t.c[k] for k in (*TENANT_KEYS, "settings")])
                       .where(t.c.slug == cfg["slug"])).first()
    if row is None:
        tenant_id = conn.execute(t.insert().values(values).returning(t.c.id)).scalar_one()
        report.count("insert", "tenant", 1)
        sync_db_tenant(conn, int(tenant_id))  # row-level security: this transaction acts for this tenant
        return int(tenant_id), True
    sync_db_tenant(conn, int(row.id))
    if guard is not None:
        identity_problems(conn, row, guard).raise_if_any()
    if any(getattr(row, k) != v for k, v in values.items()):
        conn.execute(t.update().where(t.c.id == row.id).values(values))
        report.count("update", "tenant", 1)
    return int(row.id), False


def identity_problems(conn: Connection, row: Any, bundle: Bundle) -> Problems:
    """What the folder would change of the stored county's identity (旧 → 新), as refusals."""
    problems = Problems()
    cfg = bundle.config
    hint = "；若确是同一县改名，请加 --rename 重新导入"
    for key, label in (("name", "县名"), ("region", "地区")):
        if getattr(row, key) != cfg[key]:
            problems.add(FILE, None, key, f"将改变县「{row.slug}」的{label}：{getattr(row, key)} → {cfg[key]}{hint}")
    o = OrgUnit.__table__
    stored = set(conn.execute(select(o.c.code).where(o.c.tenant_id == row.id, o.c.parent_id.is_(None))).scalars())
    wanted = {r.code for r in bundle.orgs if r.parent_code is None}
    if stored and not wanted <= stored:
        problems.add(bundle.org_file, next((r.line for r in bundle.orgs if r.parent_code is None), None), "code",
                     f"将给县「{row.slug}」再加一个根单位：{'、'.join(sorted(stored))} → "
                     f"{'、'.join(sorted(wanted))}（目录可能属于另一个县）{hint}")
    return problems


def _upsert_positions(target: Target, positions: list[dict[str, Any]]) -> None:
    wanted = [{"code": p["code"], "name": p["name"], "org_level": p["org_level"],
               "quota_formula": p.get("quota"), "eligibility_formula": p.get("eligibility"),
               "term_years": p.get("term_years"), "rehire_ban_years": p.get("rehire_ban_years")}
              for p in positions]
    sync_rows(target, Position.__table__, ("code",), wanted, "position")


def _upsert_population(target: Target, bundle: Bundle, org_ids: dict[str, int]) -> None:
    wanted = [{"org_unit_id": org_ids[r["org_code"]], "period": r["period"],
               **{f: r[f] for f in POPULATION_FIELDS}} for r in bundle.population]
    sync_rows(target, PopulationFact.__table__, ("org_unit_id", "period"), wanted, "population_fact")


def _upsert_roster(target: Target, bundle: Bundle, org_ids: dict[str, int]) -> None:
    people = [{"id_number": number, "name": r["name"], "sex": r["info"].sex,
               "birth_date": r["info"].birth_date, "education": r["education"] or None,
               "phone": r["phone"] or None, "bank_card": r["bank_card"] or None,
               "org_unit_id": org_ids[r["org_code"]]}
              for number, r in primary_rows(bundle.roster).items()]
    p = Person.__table__
    allocated = allocate_ids(target.conn, p, len(people)) if target.fresh else None
    if allocated is not None:
        person_ids = {person["id_number"]: i for person, i in zip(people, allocated, strict=True)}
        sync_rows(target, p, ("id_number",), people, "person", {(n,): i for n, i in person_ids.items()})
    else:
        sync_rows(target, p, ("id_number",), people, "person")
        person_ids = {r.id_number: r.id for r in target.conn.execute(
            select(p.c.id, p.c.id_number).where(p.c.tenant_id == target.tenant_id))}
    wanted = [{"person_id": person_ids[r["id_number"]], "position_code": r["position_code"],
               "org_unit_id": org_ids[r["org_code"]], "start_date": r["start"], "end_date": r["end"],
               "status": r["status"]} for r in bundle.roster]
    sync_rows(target, Appointment.__table__, ("person_id", "position_code", "start_date"), wanted,
              "appointment")

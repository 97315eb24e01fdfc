"""``countydesk tenant export SLUG DIR``: writes a folder that loads back to the same state.

Versioned definitions (forms, workflows, custom fields) are written as their latest stored spec,
unchanged: loading the folder back compares specs as data, so it adds no version to the county it
came from and gives a fresh database the same definitions.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import and_, func, select
from sqlalchemy.orm import aliased

from app.core.errors import NotFound
from app.core.models import Tenant
from app.core.tenancy import tenant_context
from app.extensions import db
from app.orgs.models import POPULATION_FIELDS, OrgUnit, PopulationFact
from app.staffing.models import Appointment, Person, Position
from app.tenantio.folder import ORG_COLUMNS, POP_COLUMNS, ROSTER_COLUMNS


def export_tenant(slug: str, folder: Path | str) -> Path:
    """Write ``tenant.yaml``, the three CSV files (UTF-8) and the ``forms/`` and ``workflows/`` files into
    ``folder``, replacing earlier ones."""
    out = Path(folder)
    tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise NotFound(f"县（租户）「{slug}」不存在")
    out.mkdir(parents=True, exist_ok=True)
    with tenant_context(tenant.id):
        forms = _write_forms(out)
        workflows = _write_workflows(out)
        (out / "tenant.yaml").write_text(_config_yaml(tenant, forms, workflows, _custom_fields()),
                                         encoding="utf-8")
        _write(out / "orgunits.csv", ORG_COLUMNS, _org_rows())
        _write(out / "population.csv", POP_COLUMNS, _population_rows())
        _write(out / "roster.csv", ROSTER_COLUMNS, _roster_rows())
    return out


def _write_forms(out: Path) -> list[str]:
    """The current version of each form as ``forms/<code>.yaml`` (its stored spec, so loading back adds no version).

    Only forms proper (an org level or person as target); custom-field definitions are stored as form
    definitions too but belong to ``custom_fields:``.
    """
    from app.forms.definition import TARGETS
    from app.forms.services import current_forms

    files = []
    for live in sorted(current_forms(), key=lambda lf: lf.row.code):
        if live.row.target not in TARGETS:
            continue
        (out / "forms").mkdir(exist_ok=True)
        name = f"forms/{live.row.code}.yaml"
        (out / name).write_text(yaml.safe_dump(live.row.spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
        files.append(name)
    return files


def _write_workflows(out: Path) -> list[str]:
    """The latest version of each workflow as ``workflows/<code>.yaml`` (its stored spec, comments aside)."""
    from app.workflows.models import WorkflowDefinition

    t = WorkflowDefinition
    latest = select(t.code, func.max(t.version).label("v")).group_by(t.code).subquery()
    rows = db.session.scalars(select(t).join(latest, and_(latest.c.code == t.code, latest.c.v == t.version))
                              .order_by(t.code)).all()
    files = []
    for row in rows:
        (out / "workflows").mkdir(exist_ok=True)
        name = f"workflows/{row.code}.yaml"
        (out / name).write_text(yaml.safe_dump(row.spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
        files.append(name)
    return files


def _custom_fields() -> dict[str, Any]:
    """``custom_fields:`` as tenant.yaml writes it: per entity, its latest version.

    A plain field list when that says it all; fields in several sections (or with chosen list
    columns) are written with their ``sections`` and titles, so loading the export gives the same
    definition and adds no version.
    """
    from app.forms import custom_fields as cf

    out: dict[str, Any] = {}
    for entity in cf.ENTITIES:
        row = cf.latest_row(entity)
        if row is None:
            continue
        if any(section.get("fields") for section in row.spec.get("sections") or []):
            out[entity] = cf.export_body(entity, row.spec)
    return out


def _config_yaml(tenant: Tenant, forms: list[str] | None = None, workflows: list[str] | None = None,
                 custom_fields: dict[str, Any] | None = None) -> str:
    positions = []
    for p in db.session.scalars(select(Position).order_by(Position.code)):
        item: dict[str, Any] = {"code": p.code, "name": p.name, "org_level": p.org_level}
        for key, value in (("quota", p.quota_formula), ("eligibility", p.eligibility_formula),
                           ("term_years", p.term_years), ("rehire_ban_years", p.rehire_ban_years)):
            if value is not None:
                item[key] = value
        positions.append(item)
    stored = tenant.settings or {}
    doc = {"slug": tenant.slug, "name": tenant.name, "region": tenant.region.split("/"),
           "locale": tenant.locale, "positions": positions, "packs": stored.get("packs", {}),
           "settings": stored.get("settings", {})}
    if forms:
        doc["forms"] = [{"file": name} for name in forms]
    if custom_fields:
        doc["custom_fields"] = custom_fields
    if workflows:
        doc["workflows"] = [{"file": name} for name in workflows]
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


def _org_rows() -> list[list[Any]]:
    parent = aliased(OrgUnit)
    stmt = (select(OrgUnit.code, parent.code, OrgUnit.level, OrgUnit.name)
            .outerjoin(parent, OrgUnit.parent_id == parent.id).order_by(OrgUnit.path))
    return [list(r) for r in db.session.execute(stmt)]


def _population_rows() -> list[list[Any]]:
    counts = [getattr(PopulationFact, f) for f in POPULATION_FIELDS]
    stmt = (select(OrgUnit.code, PopulationFact.period, *counts)
            .join(OrgUnit, PopulationFact.org_unit_id == OrgUnit.id)
            .order_by(OrgUnit.path, PopulationFact.period))
    return [list(r) for r in db.session.execute(stmt)]


def _roster_rows() -> list[list[Any]]:
    stmt = (select(Person.id_number, Person.name, Person.education, Person.phone, Person.bank_card,
                   Appointment.position_code, OrgUnit.code, Appointment.start_date, Appointment.end_date,
                   Appointment.status)
            .join(Appointment, Appointment.person_id == Person.id)
            .join(OrgUnit, Appointment.org_unit_id == OrgUnit.id)
            .order_by(OrgUnit.path, Person.id_number, Appointment.start_date))
    return [list(r) for r in db.session.execute(stmt)]


def _write(path: Path, header: tuple[str, ...], rows: list[list[Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow([_text(v) for v in row])


def _text(value: Any) -> Any:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else value

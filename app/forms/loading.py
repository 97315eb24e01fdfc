"""Loading a tenant folder's forms: a changed form gets a new version, an unchanged one is left alone.

Definitions are compared by their normalised dict (``FormDef.to_dict()``), so reformatting the
YAML or reordering keys does not create a version; records keep the version they were entered
under. Forms missing from the folder are kept (a folder never deletes).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select

from app.forms.definition import FormDef
from app.forms.models import FormDefinition
from app.tenantio.sync import Target


def sync_forms(target: Target, forms: Sequence[FormDef], source: str = "yaml") -> int:
    """Insert a new version for every new or changed form; returns the versions inserted."""
    if not forms:
        return 0
    t = FormDefinition.__table__
    latest = (select(t.c.code, func.max(t.c.version).label("version"))
              .where(t.c.tenant_id == target.tenant_id).group_by(t.c.code).subquery())
    rows = target.conn.execute(
        select(t.c.code, t.c.version, t.c.spec)
        .join(latest, (latest.c.code == t.c.code) & (latest.c.version == t.c.version))
        .where(t.c.tenant_id == target.tenant_id))
    current = {r.code: (r.version, r.spec) for r in rows}
    new_rows = []
    for form in forms:
        spec = form.to_dict()
        version, old_spec = current.get(form.code, (0, None))
        if old_spec == spec:
            continue
        new_rows.append({"tenant_id": target.tenant_id, "code": form.code, "version": version + 1,
                         "name": form.name, "target": form.target, "periodicity": form.periodicity,
                         "spec": spec, "source": source})
    if new_rows:
        target.conn.execute(t.insert(), new_rows)
    target.report.count("insert", "form_definition", len(new_rows))
    return len(new_rows)

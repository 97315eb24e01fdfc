"""Loading a tenant folder's forms: a changed form gets a new version, an unchanged one is left alone.

Definitions are compared by their normalised dict (``FormDef.to_dict()``), so reformatting the
YAML or reordering keys does not create a version; records keep the version they were entered
under. Forms missing from the folder are kept (a folder never deletes).
"""

from __future__ import annotations

from collections.abc import Sequence

from app.forms.definition import FormDef
from app.forms.models import FormDefinition
from app.tenantio.sync import Target, insert_new_versions


def sync_forms(target: Target, forms: Sequence[FormDef], source: str = "yaml") -> int:
    """Insert a new version for every new or changed form; returns the versions inserted."""
    if not forms:
        return 0
    wanted = [(form.code, form.to_dict(), {"name": form.name, "target": form.target,
                                            "periodicity": form.periodicity, "source": source}) for form in forms]
    return insert_new_versions(target, FormDefinition.__table__, wanted)

"""A form's list as xlsx: the current filters, every page, Chinese headers, written in write-only mode.

Rows are read page by page with the list's own keyset query (``services.list_records``), so the
export shows exactly what the list filters and scopes, and memory stays flat on long lists.
Formula-looking text (``=cmd|…``) leaves as text: ``write_xlsx`` escapes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from app.core.xlsx_export import Column, write_xlsx
from app.forms import services
from app.forms.definition import FieldDef, FormDef
from app.forms.models import FormRecord

PAGE = 500


def export_columns(form: FormDef) -> list[Column]:
    """(Chinese header, getter): the record's place, its period, every field, status and id."""
    cols: list[Column] = []
    if form.target == "person":
        cols += [("姓名", lambda r: r.person.name if r.person else None),
                 ("身份证号", lambda r: r.person.id_number_masked if r.person else None)]
    else:
        cols += [("单位代码", lambda r: r.org_unit.code if r.org_unit else None),
                 ("单位名称", lambda r: r.org_unit.name if r.org_unit else None)]
    if form.periodic:
        cols.append(("期间", "period"))
    cols += [(f.label, _getter(f)) for f in form.fields if f.type != "attachment"]
    cols += [("状态", "status_label"), ("记录编号", "id")]
    return cols


def _getter(f: FieldDef) -> Any:
    def get(record: FormRecord) -> Any:
        value = (record.data or {}).get(f.code)
        if value is None:
            return None
        if isinstance(value, list):
            return "、".join(str(v) for v in value)
        if f.type in ("org_unit", "person"):
            from app.extensions import db
            from app.orgs.models import OrgUnit
            from app.staffing.models import Person

            target = db.session.get(OrgUnit if f.type == "org_unit" else Person, value)
            return getattr(target, "code", None) or getattr(target, "name", None)
        return value

    return get


def iter_records(code: str, **filters: Any) -> Iterator[FormRecord]:
    """Every record the list shows with these filters, page after page (keyset), newest first."""
    from app.extensions import db

    after = None
    while True:
        page = services.list_records(code, after=after, limit=PAGE, **filters)
        yield from page.records
        if page.next_after is None:
            return
        after = page.next_after
        for record in page.records:  # keep the session small on long lists
            db.session.expunge(record)


def export_xlsx(code: str, **filters: Any) -> tuple[bytes, str]:
    """The xlsx bytes of the filtered list and a file name (form name, period when filtered)."""
    live = services.get_form(code)
    data = write_xlsx(export_columns(live.form), iter_records(code, **filters), sheet_title=live.form.name)
    name = live.form.name + (f"-{filters['period']}" if filters.get("period") else "")
    return data, f"{name}.xlsx"

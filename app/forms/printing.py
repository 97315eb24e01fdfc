"""A form record as a print layout (``PrintDoc``): the same document becomes the A4 PDF and the HTML page.

Generic for every form: the title is the form's name, a person form opens with the person's
roster data (姓名, 性别, 出生年月, 文化程度, 所在村（社区）), then each section of the definition with
its fields, then the signature boxes the definition names (``print: {signatures: [...]}``).
Values are plain text here; the PDF and HTML renderers escape them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.documents.layout import PrintDoc, PrintSection
from app.forms import services
from app.forms.definition import FieldDef, FormDef
from app.forms.models import FormRecord
from app.forms.schemas import display
from app.orgs.models import OrgUnit
from app.staffing.models import Person


def _text(f: FieldDef, value: Any) -> str:
    """What a cell prints: empty for blank, names for references, the screen's display otherwise."""
    if value is None or value == "" or value == []:
        return ""
    if f.type in ("org_unit", "person"):
        from app.extensions import db

        model = OrgUnit if f.type == "org_unit" else Person
        name = db.session.scalar(select(model.name).where(model.id == value))
        return str(name) if name is not None else ""
    return display(f, value)


def person_section(person: Person) -> PrintSection:
    unit = person.org_unit
    return PrintSection("基本情况", [
        ("姓名", person.name), ("性别", person.sex),
        ("出生年月", person.birth_date.strftime("%Y年%m月") if person.birth_date else ""),
        ("文化程度", person.education or ""), ("所在村（社区）", unit.name if unit is not None else ""),
    ])


def record_doc(form: FormDef, record: FormRecord) -> PrintDoc:
    """The printable document of one record, laid out by its form's definition."""
    meta: list[tuple[str, Any]] = []
    if record.org_unit is not None and form.target != "person":
        meta.append(("填报单位", record.org_unit.name))
    if record.period:
        meta.append(("期间", record.period))
    meta.append(("状态", record.status_label))
    sections = [person_section(record.person)] if record.person is not None else []
    data = record.data or {}
    for section in form.sections:
        rows = [(f.label, _text(f, data.get(f.code))) for f in section.fields if f.type != "attachment"]
        sections.append(PrintSection(section.title, rows))
    return PrintDoc(title=form.name, meta=meta, sections=sections, signatures=list(form.signatures),
                    footnote=f"记录编号：{record.id}　表单版本：{record.form_version}")


def printable(code: str, record_id: int) -> tuple[PrintDoc, str]:
    """The document of a record of the current tenant (another tenant's id is not found) and a file name."""
    record = services.get_record(code, record_id)
    form = services.get_form(code, record.form_version).form
    doc = record_doc(form, record)
    who = record.person.name if record.person is not None else (record.org_unit.name if record.org_unit else "")
    return doc, "-".join(part for part in (form.name, who, record.period or "") if part)

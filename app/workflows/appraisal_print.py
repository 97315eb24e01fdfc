"""An appraisal result as its printable form (SS-9 附件4 年度考核表), with the final grade filled in.

Why from the result and not from the form record alone: the grade that counts is the one the
county confirmed at the end of the appraisal case (stored in ``appraisal_result``); the 年度考核表
record a worker filled in may carry an earlier or no grade. The page takes the form of the
appraisal process (the ``form`` of one of its transitions), fills it from the case's data, then the
person's form record of that period, then the final grade on top. A result with no such form (a
monthly scheme's annual result) prints as a plain result sheet with its scores.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.core.errors import CountyDeskError, NotFound
from app.documents.layout import PrintDoc, PrintSection
from app.extensions import db
from app.workflows.appraisal_models import AppraisalResult
from app.workflows.appraisal_term import END_FIELD, KIND_FIELD, TERM_KIND, term_end_rule


def _cell(value: Any) -> str:
    if value is None or value == "" or value == []:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return str(value)


def _process_of(row: AppraisalResult) -> tuple[Any, dict[str, Any]]:
    """The appraisal process the result came from (its definition) and the case's data, if known."""
    from app.workflows import services
    from app.workflows.models import WorkflowDefinition, WorkflowInstance

    if row.source_instance_id is not None:
        inst = db.session.get(WorkflowInstance, row.source_instance_id)
        if inst is not None:
            return services.load_definition(inst.definition_code, inst.definition_version), dict(inst.data or {})
    try:
        term = term_end_rule()
    except CountyDeskError:  # a broken setting must not stop printing an annual result
        term = None
    if term is not None and term.scheme == row.scheme:
        return services.load_definition(term.workflow), {KIND_FIELD: TERM_KIND}
    for code in db.session.scalars(select(WorkflowDefinition.code).distinct().order_by(WorkflowDefinition.code)):
        definition = services.load_definition(code)
        rule = getattr(definition.rules, "appraisal", None)
        if rule is not None and rule.scheme == row.scheme:
            return definition, {}
    return None, {}


def result_doc(result_id: int) -> tuple[PrintDoc, str]:
    """The printable document of one result of the current county, and a file name."""
    from app.forms import services as forms
    from app.forms.models import FormRecord
    from app.forms.printing import person_section

    # a query, not session.get: an object already in the session would skip the tenant criteria
    row = db.session.scalars(select(AppraisalResult).where(AppraisalResult.id == result_id)).first()
    if row is None:
        raise NotFound("考核结果不存在")
    definition, case_data = _process_of(row)
    term = case_data.get(KIND_FIELD) == TERM_KIND
    kind = "聘期考核" if term else ("月度考核" if "-" in row.period else "年度考核")
    meta: list[tuple[str, Any]] = [("考核类别", kind), ("期间", row.period)]
    if term and case_data.get(END_FIELD):
        meta.append(("聘期届满", case_data[END_FIELD]))
    footnote = f"考核结果编号：{row.id}" + (f"　流程编号：#{row.source_instance_id}" if row.source_instance_id else "")
    form_code = next((t.form for t in definition.transitions if t.form), None) if definition is not None else None
    grade_field = getattr(getattr(definition, "rules", None), "appraisal", None)
    grade_code = grade_field.grade_field if grade_field is not None else "grade"
    live = None
    if form_code:
        try:
            live = forms.get_form(form_code)
        except NotFound:
            live = None
    sections = [person_section(row.person)]
    if live is None:
        results = [("总分", _cell(row.total)), ("考核等次", _cell(row.grade)), ("镇内名次", _cell(row.rank_in_town)),
                   ("县内名次", _cell(row.rank_in_county)), ("末位", "是" if row.last_place else "否")]
        sections.append(PrintSection("考核结果", results))
        if row.scores:
            sections.append(PrintSection("各项得分", [(str(k), _cell(v)) for k, v in row.scores.items()]))
        doc = PrintDoc(title="考核结果", subtitle=kind, meta=meta, sections=sections, footnote=footnote)
        return doc, f"考核结果-{row.person.name}-{row.period}"
    record = db.session.scalars(select(FormRecord).where(
        FormRecord.form_code == form_code, FormRecord.person_id == row.person_id, FormRecord.period == row.period)
        .order_by(FormRecord.id.desc()).limit(1)).first()
    data = {**case_data, **((record.data or {}) if record is not None else {})}
    # what the county decided wins over what was typed: the final grade, the 末位 flag, the kind
    data.update({grade_code: row.grade, "last_place": row.last_place,
                 KIND_FIELD: TERM_KIND if term else (data.get(KIND_FIELD) or "年度考核")})
    form = live.form
    placed = False
    for section in form.sections:
        rows = []
        for f in section.fields:
            if f.type == "attachment":
                continue
            placed = placed or f.code == grade_code
            rows.append((f.label, _cell(data.get(f.code))))
        sections.append(PrintSection(section.title, rows))
    if not placed:
        sections.append(PrintSection("考核结果", [("考核等次", _cell(row.grade))]))
    if row.last_place:
        meta.append(("末位", "是"))
    doc = PrintDoc(title=form.name, subtitle=kind, meta=meta, sections=sections, signatures=list(form.signatures),
                   footnote=footnote)
    return doc, f"{form.name}-{row.person.name}-{row.period}"

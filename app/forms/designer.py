"""The form designer: check, preview and save a county's form definitions (and custom fields) from the admin UI.

Why the same parser as tenant.yaml: a form typed in the designer and one loaded from the tenant
folder must be refused for the same reasons, with the same Chinese messages.  Saving never
overwrites: each change is a new ``form_definition`` version (source ``designer``), records keep
the version they were entered under, and the generic screens read the latest version per request,
so a saved form is usable at once without a restart.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import SelectField, StringField
from wtforms import validators as v

from app.core import designer_base as base
from app.core.designer_base import CheckedBase, DesignerProblems, VersionInfo
from app.core.designer_base import to_yaml as to_yaml  # the designer screens show definitions as YAML
from app.core.yaml_source import MAX_DEPTH
from app.extensions import db
from app.forms import custom_fields as cf
from app.forms.custom_fields_models import CustomFieldDefinition
from app.forms.definition import FIELD_KEYS, FormDef, parse_form
from app.forms.models import FormDefinition
from app.forms.services import save_definition
from app.forms.wtforms_gen import PERIOD_PLACEHOLDER, attachment_field, build_field

HEADER_KEYS = ("code", "name", "target", "periodicity", "due_day", "lock_after_days")
TABLE_KEYS = ("code", "label", "type", "required", "min", "max", "choices", "help")
"""What the field table edits; a field's other keys (default, pattern, max_length) ride along unchanged."""
MAX_TEXT = 200_000
NEW_FORM: dict[str, Any] = {"code": "", "name": "", "target": "village", "periodicity": "none",
                            "sections": [{"title": "基本情况", "fields": [
                                {"code": "title", "label": "标题", "type": "text", "required": True}]}]}


class DesignerError(DesignerProblems):
    """Nothing was saved; ``problems`` lists every reason in Chinese."""

    subject = "表单定义"


class Checked(CheckedBase[FormDef]):
    """The outcome of parsing what the admin typed: the form (None if any problem) and every problem."""

    @property
    def form(self) -> FormDef | None:
        return self.parsed


# -- reading what was typed ---------------------------------------------------------------------


def parse_yaml(text: str) -> tuple[Any, dict[tuple[Any, ...], int], list[str]]:
    """The YAML's value, each key path's line, and its syntax problems (Chinese, with line)."""
    from app.core.yaml_source import read_yaml

    if len(text) > MAX_TEXT:
        return None, {}, [f"定义太长（最多 {MAX_TEXT} 字符）"]
    doc = read_yaml(text, max_chars=MAX_TEXT)
    return doc.data, doc.lines, [p.located() for p in doc.problems]


def _number(text: Any) -> Any:
    """A table cell as a number when it is one (else as typed, so the parser says what is wrong)."""
    if not isinstance(text, str):
        return text
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def sections_from_rows(rows: Any) -> Any:
    """The field table (one dict per row, with its section title) as ``sections:``; rows keep their order."""
    if not isinstance(rows, list):
        return []
    sections: list[dict[str, Any]] = []
    for row in rows:
        if not isinstance(row, Mapping):
            continue
        title = str(row.get("section") or "").strip()
        if not sections or sections[-1]["title"] != title:
            sections.append({"title": title, "fields": []})
        rest = row.get("rest")
        item: dict[str, Any] = ({k: v for k, v in rest.items() if k in FIELD_KEYS and k not in TABLE_KEYS}
                                if isinstance(rest, Mapping) else {})
        item.update({"code": str(row.get("code") or "").strip(), "label": str(row.get("label") or "").strip(),
                     "type": row.get("type") or "text"})
        if row.get("required"):
            item["required"] = True
        for key in ("min", "max"):
            value = _number(row.get(key))
            if value is not None:
                item[key] = value
        choices = [c.strip() for c in str(row.get("choices") or "").replace("，", "、").replace(",", "、").split("、")]
        if any(choices):
            item["choices"] = [c for c in choices if c]
        help_text = str(row.get("help") or "").strip()
        if help_text:
            item["help"] = help_text
        sections[-1]["fields"].append(item)
    return sections


def rows_from_raw(raw: Any) -> list[dict[str, Any]]:
    """The field table's rows from a definition dict (the inverse of :func:`sections_from_rows`)."""
    rows: list[dict[str, Any]] = []
    sections = raw.get("sections") if isinstance(raw, Mapping) else None
    for sec in sections if isinstance(sections, list) else []:
        if not isinstance(sec, Mapping) or not isinstance(sec.get("fields"), list):
            continue
        for f in sec["fields"]:
            if not isinstance(f, Mapping):
                continue
            choices = f.get("choices")
            rows.append({"section": sec.get("title") or "", "code": f.get("code") or "", "label": f.get("label") or "",
                         "type": f.get("type") or "text", "required": bool(f.get("required")),
                         "min": "" if f.get("min") is None else f.get("min"),
                         "max": "" if f.get("max") is None else f.get("max"),
                         "choices": "、".join(str(c) for c in choices) if isinstance(choices, list) else "",
                         "help": f.get("help") or "",
                         "rest": {k: val for k, val in f.items() if k not in TABLE_KEYS}})
    return rows


def raw_from_post(form: Mapping[str, Any], entity: str | None) -> tuple[Any, dict[tuple[Any, ...], int], list[str]]:
    """The definition the admin sent: the YAML as typed (mode ``yaml``) or the header and field table.

    In table mode what the table cannot show (rules, key) is taken from the YAML textarea.
    """
    text = str(form.get("definition_yaml") or "")
    if form.get("mode") == "yaml":
        return parse_yaml(text)
    base, _, _ = parse_yaml(text)
    raw: dict[str, Any] = dict(base) if isinstance(base, Mapping) else {}
    if entity is None:
        for key in HEADER_KEYS:
            value = str(form.get(key) or "").strip()
            if key in ("due_day", "lock_after_days"):
                number = _number(value)
                if number is None:
                    raw.pop(key, None)
                else:
                    raw[key] = number
            else:
                raw[key] = value
    posted = str(form.get("fields_json") or "[]")
    try:
        rows = json.loads(posted) if len(posted) <= MAX_TEXT else None
    except (ValueError, RecursionError):
        rows = None
    if rows is None or _deeper_than(rows, MAX_DEPTH):
        return raw, {}, ["字段表格数据无法读取，请刷新页面后重试"]
    raw["sections"] = sections_from_rows(rows)
    return raw, {}, []


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether nested lists / dicts go deeper than ``limit`` (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            if depth > limit:
                return True
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return False


def entity_body(raw: Any) -> Any:
    """What the designer shows for custom fields: the definition without its fixed code, name and target."""
    if isinstance(raw, Mapping):
        return {k: v for k, v in raw.items() if k not in ("code", "name", "target", "periodicity")}
    return raw


# -- checking and saving ------------------------------------------------------------------------


def _located(path: tuple[Any, ...], lines: Mapping[tuple[Any, ...], int], text: str) -> str:
    for n in range(len(path), 0, -1):
        line = lines.get(path[:n])
        if line is not None:
            return f"第{line}行：{text}"
    return text


def check(raw: Any, lines: Mapping[tuple[Any, ...], int] | None = None, *, editing: str | None = None,
          syntax: list[str] | None = None) -> Checked:
    """Parse like the tenant loader; ``editing``: the code being edited (None: a new form)."""
    from app.hooks.formulas import formula_registry

    lines = lines or {}
    if syntax:
        return Checked(raw, None, list(syntax))
    entity = cf.entity_of(editing)
    registry = formula_registry()
    if entity is not None:
        form, found = cf.parse_entity(entity, raw, registry)
        return Checked(raw, form, [_located(path, lines, text) for path, text in found])
    form, problems = parse_form(raw, registry)
    texts = [_located(p.path, lines, str(p)) for p in problems]
    code = raw.get("code") if isinstance(raw, Mapping) else None
    if editing is None and isinstance(code, str) and _exists(code):
        texts.append(f"表单代码「{code}」已被本县的另一张表单使用，请换一个代码（要修改那张表单请从列表中打开它）")
    if editing is not None and isinstance(code, str) and code != editing:
        texts.append(f"不能修改表单代码（原为「{editing}」）；要另建表单请用“新建表单”")
    return Checked(raw, None if texts else form, texts)


def _exists(code: str) -> bool:
    if not base.plausible_key(code):
        return False
    return db.session.scalar(select(FormDefinition.id).where(FormDefinition.code == code).limit(1)) is not None


def latest_version(code: str) -> int | None:
    return base.latest_version(_model(code), code)


def _model(code: str | None) -> Any:
    """Where a code's versions live: custom fields (``_person`` …) apart from forms."""
    return CustomFieldDefinition if cf.entity_of(code) else FormDefinition


def save(checked: Checked, *, editing: str | None = None,
         base_version: int | None = None) -> FormDefinition | CustomFieldDefinition:
    """Store a checked definition as a new version; raises :class:`DesignerError` (nothing saved)."""
    if not checked.ok or checked.form is None:
        raise DesignerError(checked.problems or ["定义无效"])
    from app.core.audit import record_new_version

    entity = cf.entity_of(editing)
    code = checked.form.code if entity is None else cf.entity_code(entity)
    with base.committing(DesignerError, "同时有人保存了这张表单，请重新打开后再修改"):
        latest = latest_version(code)
        if entity is not None:
            row: FormDefinition | CustomFieldDefinition = cf.save_entity(entity, checked.form, base_version)
        else:
            if editing is not None and base.is_stale(latest, base_version):
                raise DesignerError([f"表单「{editing}」已被他人改为第{latest}版，请重新打开后再修改"])
            row = save_definition(checked.form, source="designer")
        if row.version != latest:  # a new version: the county's audit log says who saved which
            record_new_version(db.session(), row, entity=str(row.__tablename__), old_version=latest)
    return row


# -- listing, versions, diff --------------------------------------------------------------------


@dataclass(frozen=True)
class FormSummary:
    code: str
    name: str
    target: str
    periodicity: str
    version: int
    versions: int
    source: str
    created_at: Any


def form_summaries() -> list[FormSummary]:
    """The tenant's forms, by name, with their latest version and number of versions."""
    t = FormDefinition
    rows = db.session.execute(
        select(t.code, func.max(t.version).label("latest"), func.count().label("n"))
        .group_by(t.code)).all()
    out = []
    for r in rows:
        row = db.session.scalars(select(t).where(t.code == r.code, t.version == r.latest)).one()
        out.append(FormSummary(row.code, row.name, row.target, row.periodicity, row.version, int(r.n), row.source,
                               row.created_at))
    return sorted(out, key=lambda s: s.name)


def versions(code: str) -> list[VersionInfo]:
    """Every version of a form, newest first, with who saved it and when."""
    return base.version_list(_model(code), code, lambda r: "导入" if r.source == "yaml" else "—")


def spec_of(code: str, version: int | None = None) -> Any:
    """A version (latest when None) of a form or of an entity's custom fields, or None."""
    return base.stored_version(_model(code), code, version)


@dataclass
class Diff:
    form: list[tuple[str, Any, Any]] = field(default_factory=list)
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    changed: list[tuple[str, str, list[tuple[str, Any, Any]]]] = field(default_factory=list)
    """(code, label, [(key, before, after)])."""

    @property
    def empty(self) -> bool:
        return not (self.form or self.added or self.removed or self.changed)


def diff_specs(old: Mapping[str, Any], new: Mapping[str, Any]) -> Diff:
    """Fields added, removed and changed (key by key) between two definition dicts, plus form-level changes."""
    out = Diff()
    for key in (*HEADER_KEYS, "key", "rules"):
        if key != "code" and old.get(key) != new.get(key):
            out.form.append((key, old.get(key), new.get(key)))
    before = {f["code"]: (s.get("title"), f) for s in old.get("sections") or [] for f in s.get("fields") or []}
    after = {f["code"]: (s.get("title"), f) for s in new.get("sections") or [] for f in s.get("fields") or []}
    out.added = [f for code, (_, f) in after.items() if code not in before]
    out.removed = [f for code, (_, f) in before.items() if code not in after]
    for code, (title, f) in after.items():
        if code not in before:
            continue
        old_title, g = before[code]
        changes = [(k, g.get(k), f.get(k)) for k in FIELD_KEYS if k != "code" and g.get(k) != f.get(k)]
        if old_title != title:
            changes.append(("section", old_title, title))
        if changes:
            out.changed.append((code, str(f.get("label")), changes))
    return out


def diff(code: str, a: int, b: int) -> Diff | None:
    return base.diff_versions(spec_of, diff_specs, code, a, b)


# -- preview --------------------------------------------------------------------------------------


def preview_form(form: FormDef, place: bool = True) -> FlaskForm:
    """An instance of the WTForms form derived from an unsaved definition (not cached: it may never be saved).

    ``place``: with the record's unit / person and period (forms; custom fields have none).
    """
    attrs: dict[str, Any] = {}
    if not place:
        pass
    elif form.target == "person":
        attrs["person_id"] = SelectField("人员", choices=[], validate_choice=False,
                                         validators=[v.InputRequired(message="必填")])
    elif form.target in ("village", "town", "county"):
        attrs["org_unit_id"] = SelectField("填报单位", choices=[], validate_choice=False,
                                           validators=[v.InputRequired(message="必填")])
    if place and form.periodic:
        attrs["period"] = StringField("期间", validators=[v.InputRequired(message="必填")],
                                      render_kw={"placeholder": PERIOD_PLACEHOLDER[form.periodicity]})
    for f in form.fields:  # as the entry screen builds them: an attachment is a file input
        attrs[f.code] = attachment_field(f) if f.type == "attachment" else build_field(f)
    cls = type(f"Preview_{form.code}", (FlaskForm,), attrs)
    instance: FlaskForm = cls(formdata=None, prefix="preview", meta={"csrf": False})
    from app.forms.views import _prepare

    _prepare(form, instance)
    return instance

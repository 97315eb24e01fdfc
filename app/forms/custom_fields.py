"""A county's own fields on core entities (person, appointment, org unit), in the ``extra`` JSON column.

Why form definitions: a custom field is declared exactly like a form field (``custom_fields:`` in
tenant.yaml or the form designer), so it gets the same parser, the same Chinese messages and the
same derived marshmallow schema and WTForms fields.  Each entity's fields are versioned rows of
``custom_field_definition`` (code ``_person`` / ``_appointment`` / ``_org_unit``) whose ``spec`` is
an ordinary form dict; they are kept out of ``form_definition`` so form lists never show them.

Which fields the FAB list shows is part of the definition: ``list: [codes]`` at the top of an
entity's definition, or ``list: true`` on a field (both accepted, stored as the top-level list);
when nothing is said, the first three fields. Every field (except attachments) is searchable.

FAB builds a view's forms once at startup; the mixins here add the current tenant's fields per
request (a cached subclass of the view's form per tenant and definition version, in
``custom_fields_forms``), list columns, search and sort (``custom_fields_list``), and validate
``extra`` on API writes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from functools import lru_cache
from threading import Lock
from typing import Any

from flask import g, has_request_context
from marshmallow import Schema, ValidationError
from sqlalchemy import func, inspect, select

from app.core.tenancy import current_scope, current_tenant_id
from app.extensions import db
from app.forms.custom_fields_list import LIST_DEFAULT, CustomFieldsListMixin
from app.forms.custom_fields_models import CustomFieldDefinition
from app.forms.definition import DefinitionProblem, FieldDef, FormDef, load_form, parse_form
from app.forms.schemas import FormSchema, display, to_json
from app.forms.services import FormValidationError
from app.tenantio.problems import Problems
from app.tenantio.sync import Target, insert_new_versions

ENTITIES = {"person": "人员", "appointment": "聘用记录", "org_unit": "组织机构"}
PREFIX = "cf_"
"""WTForms name prefix of custom fields, so a field ``name`` never shadows the model's ``name``."""
SECTION_TITLE = "自定义字段"
UNSUPPORTED_KEYS = ("rules", "key", "periodicity", "due_day", "lock_after_days")


def entity_code(entity: str) -> str:
    return f"_{entity}"


def entity_of(code: str | None) -> str | None:
    """The entity whose custom fields ``code`` holds (``_person`` → ``person``), else None."""
    if code and code.startswith("_") and code[1:] in ENTITIES:
        return code[1:]
    return None


def entity_label(entity: str) -> str:
    return f"{ENTITIES[entity]}自定义字段"


def entity_form_dict(entity: str, body: Any) -> Any:
    """The form dict parsed for an entity: ``body`` is a list of fields or ``{sections: …}``."""
    if isinstance(body, list):
        sections: Any = [{"title": SECTION_TITLE, "fields": body}]
        rest: dict[str, Any] = {}
    elif isinstance(body, Mapping):
        rest = {k: v for k, v in body.items() if k not in ("code", "name", "target", "sections")}
        sections = body.get("sections")
    else:
        return body
    return {**rest, "code": f"custom_{entity}", "name": entity_label(entity), "target": "person",
            "sections": sections}


def entity_problem_text(entity: str, p: DefinitionProblem) -> str:
    """A parser problem, located for a county admin (人员自定义字段字段「cert_no」：…)."""
    where = p.where.replace(f"表单「custom_{entity}」第1节「{SECTION_TITLE}」", entity_label(entity))
    where = where.replace(f"表单「custom_{entity}」", entity_label(entity))
    return f"{where}：{p.message}"


@dataclass(frozen=True)
class EntityFormDef(FormDef):
    """An entity's custom fields: a form definition plus which fields the list screen shows.

    ``list_codes`` None means "not said": the first :data:`LIST_DEFAULT` fields are listed.
    Stored in the spec as a top-level ``list: [codes]`` (the designer's field table keeps
    top-level keys, so switching between the table and the YAML box does not lose it).
    """

    list_codes: tuple[str, ...] | None = None

    def __hash__(self) -> int:
        return hash((FormDef.__hash__(self), self.list_codes))

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        if self.list_codes is not None:
            out["list"] = list(self.list_codes)
        return out

    @property
    def list_fields(self) -> tuple[FieldDef, ...]:
        if self.list_codes is None:
            return tuple(f for f in self.fields if f.type != "attachment")[:LIST_DEFAULT]
        return tuple(self.field_index[c] for c in self.list_codes if c in self.field_index)




def _take_list_flags(raw: Mapping[str, Any], problems: list[tuple[Any, str]],
                     entity: str) -> tuple[dict[str, Any], tuple[str, ...] | None]:
    """Remove ``list: [codes]`` and per-field ``list: true`` from ``raw``; the codes to list (None: not said)."""
    out = dict(raw)
    top = out.pop("list", None)
    flagged: list[str] = []
    said = top is not None
    sections = out.get("sections")
    if isinstance(sections, list):
        new_sections = []
        for i, sec in enumerate(sections):
            if isinstance(sec, Mapping) and isinstance(sec.get("fields"), list):
                fields = []
                for j, f in enumerate(sec["fields"]):
                    if isinstance(f, Mapping) and "list" in f:
                        flag = f["list"]
                        said = True
                        if not isinstance(flag, bool):
                            problems.append((("sections", i, "fields", j, "list"),
                                             f"{entity_label(entity)}字段「{f.get('code')}」：list 应为 true 或 false"))
                        elif flag and isinstance(f.get("code"), str):
                            flagged.append(f["code"])
                        f = {k: v for k, v in f.items() if k != "list"}
                    fields.append(f)
                sec = {**sec, "fields": fields}
            new_sections.append(sec)
        out["sections"] = new_sections
    if top is None:
        return out, (tuple(flagged) if said else None)
    if not isinstance(top, list) or not all(isinstance(c, str) for c in top):
        problems.append((("list",), f"{entity_label(entity)}：list 应为列表页显示的字段代码列表（如 [cert_no]）"))
        return out, None
    return out, tuple(dict.fromkeys([*top, *flagged]))


def parse_entity(entity: str, body: Any, functions: Any = None) -> tuple[FormDef | None, list[tuple[Any, str]]]:
    """The entity's definition (an :class:`EntityFormDef`) and its problems as (path, Chinese text)."""
    raw = entity_form_dict(entity, body)
    problems: list[tuple[Any, str]] = []
    list_codes: tuple[str, ...] | None = None
    if isinstance(raw, Mapping):
        for key in UNSUPPORTED_KEYS:
            if key in raw:
                problems.append(((key,), f"{entity_label(entity)}：不支持「{key}」（只能定义字段）"))
        raw, list_codes = _take_list_flags({k: v for k, v in raw.items() if k not in UNSUPPORTED_KEYS},
                                           problems, entity)
    form, found = parse_form(raw, functions)
    problems += [(p.path, entity_problem_text(entity, p)) for p in found]
    if form is not None and list_codes is not None:
        unknown = [c for c in list_codes if c not in form.field_index]
        if unknown:
            problems.append((("list",), f"{entity_label(entity)}：list 中的字段「{'、'.join(unknown)}」未定义"))
    if problems or form is None:
        return None, problems
    return _with_list(form, list_codes), problems


def _with_list(form: FormDef, list_codes: tuple[str, ...] | None) -> EntityFormDef:
    values = {f.name: getattr(form, f.name) for f in dataclass_fields(FormDef) if f.name != "field_index"}
    return EntityFormDef(**values, list_codes=list_codes)


# -- tenant.yaml --------------------------------------------------------------------------------


def read_custom_fields(raw: Any, lines: Mapping[tuple[Any, ...], int], problems: Problems,
                       file: str = "tenant.yaml") -> dict[str, FormDef]:
    """``custom_fields: {person: [fields…], appointment: […], org_unit: […]}``; each problem to ``problems``."""
    from app.hooks.formulas import formula_registry

    if raw is None or raw == {}:
        return {}
    if not isinstance(raw, Mapping):
        problems.add(file, lines.get(("custom_fields",)), "custom_fields",
                     "custom_fields 应为映射：person: [字段…]、appointment: […]、org_unit: […]")
        return {}
    registry = formula_registry()
    out: dict[str, FormDef] = {}
    for entity, body in raw.items():
        prefix = ("custom_fields", entity)
        if entity not in ENTITIES:
            problems.add(file, lines.get(prefix), f"custom_fields.{entity}",
                         f"未知的对象「{entity}」（可用：{'、'.join(ENTITIES)}）")
            continue
        if not body or not isinstance(body, list | Mapping) or (isinstance(body, Mapping)
                                                                 and not isinstance(body.get("sections"), list)):
            problems.add(file, lines.get(prefix), f"custom_fields.{entity}",
                         "应为字段列表（- code: … label: … type: …，格式同表单字段），"
                         "或分节写作 sections: [{title: …, fields: […]}]")
            continue
        form, found = parse_entity(entity, body, registry)
        for path, text in found:
            if isinstance(body, Mapping):  # the form's key path is the body's own
                inner = tuple(path)
            else:  # ("sections", 0, "fields", j, key) inside the form is (custom_fields, entity, j, key) here
                inner = tuple(path[3:]) if len(path) >= 4 and path[:3] == ("sections", 0, "fields") else ()
            full = (*prefix, *inner)
            line = next((lines[full[:n]] for n in range(len(full), 0, -1) if full[:n] in lines), None)
            problems.add(file, line, ".".join(str(k) for k in full), text)
        if form is not None:
            out[entity] = form
    return out


def export_body(entity: str, spec: Mapping[str, Any]) -> Any:
    """A stored definition as ``custom_fields.<entity>`` of tenant.yaml, so that loading it back gives the same spec.

    The plain field list when it says nothing more (one section with the default title, no list
    columns); otherwise the body with its sections and titles, as :func:`entity_form_dict` reads it.
    """
    body = {k: v for k, v in spec.items() if k not in ("code", "name", "target", "periodicity")}
    sections = body.get("sections") or []
    if set(body) == {"sections"} and len(sections) == 1 and sections[0].get("title") == SECTION_TITLE:
        return list(sections[0].get("fields") or [])
    return body


def sync_custom_fields(target: Target, defs: Mapping[str, FormDef]) -> int:
    """A new definition version for every new or changed entity; returns the versions inserted."""
    if not defs:
        return 0
    wanted = [(entity_code(entity), form.to_dict(), {"name": entity_label(entity), "source": "yaml"})
              for entity, form in defs.items()]
    return insert_new_versions(target, CustomFieldDefinition.__table__, wanted)


# -- the current tenant's definitions ---------------------------------------------------------------


@dataclass(frozen=True)
class LiveCustom:
    """One version of a tenant's custom fields of an entity (plain values: safe to keep past the session)."""

    entity: str
    tenant_id: int | None
    version: int
    form: FormDef


@lru_cache(maxsize=256)
def _parse(tenant_id: int | None, code: str, version: int, spec_key: str) -> FormDef:
    entity = entity_of(code)
    spec = json.loads(spec_key)
    if entity is None:
        return load_form(spec)
    problems: list[tuple[Any, str]] = []
    raw, list_codes = _take_list_flags(spec, problems, entity)
    return _with_list(load_form(raw), list_codes)


def live_of(row: CustomFieldDefinition) -> LiveCustom:
    entity = entity_of(row.code) or row.code
    spec_key = json.dumps(row.spec, sort_keys=True, ensure_ascii=False)
    return LiveCustom(entity, row.tenant_id, row.version, _parse(row.tenant_id, row.code, row.version, spec_key))


def latest_row(entity: str) -> CustomFieldDefinition | None:
    # No autoflush: called from an API's pre_update with the row's changes pending; flushing them
    # here would move the row version on twice in one save.
    model = CustomFieldDefinition
    with db.session.no_autoflush:
        return db.session.scalars(select(model).where(model.code == entity_code(entity))
                                  .order_by(model.version.desc()).limit(1)).first()


def current_custom(entity: str) -> LiveCustom | None:
    """The current tenant's custom fields of ``entity`` (latest version), once per request."""
    cache: dict[tuple[int | None, str], LiveCustom | None] | None = None
    key = (current_tenant_id(), entity)
    if has_request_context():
        cache = g.setdefault("countydesk_custom_fields", {})
        if key in cache:
            return cache[key]
    row = latest_row(entity)
    live = live_of(row) if row is not None else None
    if cache is not None:
        cache[key] = live
    return live


def save_entity(entity: str, form: FormDef, base_version: int | None = None) -> CustomFieldDefinition:
    """Store changed custom fields as a new version (unchanged: the current row)."""
    from app.forms.designer import DesignerError

    latest = latest_row(entity)
    if latest is not None and base_version is not None and latest.version != base_version:
        raise DesignerError([f"{entity_label(entity)}已被他人改为第{latest.version}版，请重新打开后再修改"])
    if latest is not None and latest.spec == form.to_dict():
        return latest
    scope = current_scope()
    row = CustomFieldDefinition(code=entity_code(entity), version=(latest.version if latest else 0) + 1,
                                name=entity_label(entity), spec=form.to_dict(), source="designer",
                                created_by=scope.user_id if scope else None)
    db.session.add(row)
    db.session.flush()
    if has_request_context():
        g.pop("countydesk_custom_fields", None)
    return row


def entity_rows() -> list[tuple[str, CustomFieldDefinition | None, int]]:
    """(entity, latest row or None, number of versions) for every entity."""
    counts = dict(db.session.execute(select(CustomFieldDefinition.code, func.count())
                                     .group_by(CustomFieldDefinition.code)).all())
    return [(entity, latest_row(entity), int(counts.get(entity_code(entity), 0))) for entity in ENTITIES]


# -- validation -------------------------------------------------------------------------------------


def validate_extra(entity: str, raw: Any, old: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The ``extra`` to store: ``raw`` (changed fields) over ``old``, validated whole by the derived schema.

    Values of fields no longer defined are kept (records keep what they were entered with).
    Raises :class:`FormValidationError` with ``{"extra.code": ["标签：原因"]}``.
    """
    live = current_custom(entity)
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise FormValidationError({"extra": ["extra 应为对象（字段代码: 值）"]})
    old = dict(old or {})
    if live is None:
        if raw:
            raise FormValidationError({"extra": [f"本县没有定义{entity_label(entity)}"]})
        return old or None
    form = live.form
    merged = {**{k: v for k, v in old.items() if k in form.field_index}, **raw}
    try:
        values = load_values(live, merged)
    except ValidationError as exc:
        raise FormValidationError(_labelled(form, exc)) from None
    return {**old, **to_json(values)}


def _labelled(form: FormDef, exc: ValidationError) -> dict[str, list[str]]:
    messages = exc.messages if isinstance(exc.messages, dict) else {"_form": exc.messages}
    out: dict[str, list[str]] = {}
    for key, value in messages.items():
        f = form.field_index.get(str(key))
        texts = value if isinstance(value, list) else [value]
        label = f.label if f else str(key)
        out[f"extra.{key}"] = [f"{label}：{t}" for t in texts]
    return out


_SCHEMAS: dict[tuple[int | None, str, int], type[Schema]] = {}
_LOCK = Lock()


def load_values(live: LiveCustom, data: Mapping[str, Any]) -> dict[str, Any]:
    """Validated values by the schema derived from the definition (cached per tenant, entity and version).

    Not ``app.forms.schemas.schema_class``: its cache is keyed by form code, which a county's form
    could share with the spec code of an entity's custom fields.
    """
    key = (live.tenant_id, live.entity, live.version)
    cls = _SCHEMAS.get(key)
    if cls is None:
        from app.forms.schemas import build_field as schema_field

        cls = FormSchema.from_dict({f.code: schema_field(f) for f in live.form.fields},
                                   name=f"Custom_{live.entity}_v{live.version}")
        with _LOCK:
            if len(_SCHEMAS) > 2_000:
                _SCHEMAS.clear()
            _SCHEMAS[key] = cls
    loaded: dict[str, Any] = cls().load(dict(data))
    return loaded


# -- screens ----------------------------------------------------------------------------------------

def _entity_of_view(view: Any) -> str:
    return str(view.datamodel.obj.__tablename__)


class CustomFieldsViewMixin(CustomFieldsListMixin):
    """Put before ``TenantModelView``: the tenant's custom fields on add, edit, show and the list."""

    datamodel: Any

    def _cf_live(self) -> LiveCustom | None:
        if not has_request_context() or current_tenant_id() is None:
            return None
        return current_custom(_entity_of_view(self))

    def _cf_form(self, key: str) -> Any:
        base = self.__dict__.get(key)
        live = self._cf_live() if base is not None else None
        from app.forms.custom_fields_forms import custom_form

        return custom_form(base, live) if base is not None and live is not None and live.form.fields else base

    @property
    def add_form(self) -> Any:
        return self._cf_form("_cf_add_form")

    @add_form.setter
    def add_form(self, value: Any) -> None:
        self.__dict__["_cf_add_form"] = value

    @property
    def edit_form(self) -> Any:
        return self._cf_form("_cf_edit_form")

    @edit_form.setter
    def edit_form(self, value: Any) -> None:
        self.__dict__["_cf_edit_form"] = value

    def _get_add_widget(self, form: Any, exclude_cols: Any = None, widgets: Any = None) -> Any:
        widgets = super()._get_add_widget(form, exclude_cols, widgets)  # type: ignore[misc]
        _extend_form_widget(widgets["add"], form)
        return widgets

    def _get_edit_widget(self, form: Any, exclude_cols: Any = None, widgets: Any = None) -> Any:
        widgets = super()._get_edit_widget(form, exclude_cols, widgets)  # type: ignore[misc]
        _extend_form_widget(widgets["edit"], form)
        return widgets

    def _get_show_widget(self, pk: Any, item: Any, widgets: Any = None, actions: Any = None,
                         show_fieldsets: Any = None) -> Any:
        widgets = super()._get_show_widget(pk, item, widgets, actions, show_fieldsets)  # type: ignore[misc]
        live = self._cf_live()
        if live is None or not live.form.fields:
            return widgets
        args = widgets["show"].template_args
        extra = getattr(item, "extra", None) or {}
        names = [PREFIX + f.code for f in live.form.fields]
        args["include_columns"] = [*args["include_columns"], *names]
        args["value_columns"] = [*args["value_columns"], *[display(f, extra.get(f.code)) for f in live.form.fields]]
        args["label_columns"] = {**args["label_columns"], **{PREFIX + f.code: f.label for f in live.form.fields}}
        return widgets


def _extend_form_widget(widget: Any, form: Any) -> None:
    names = getattr(form, "cf_names", None)
    if names:
        widget.template_args["include_cols"] = [*widget.template_args["include_cols"], *names]


class CustomFieldsApiMixin:
    """Put before ``TenantModelApi``: ``extra`` in GET, validated on POST and PUT (422 in Chinese)."""

    datamodel: Any

    def __init__(self) -> None:
        for attr in ("list_columns", "show_columns", "add_columns", "edit_columns"):
            columns = getattr(self, attr, None)
            if columns and "extra" not in columns:
                setattr(self, attr, [*columns, "extra"])
        super().__init__()

    def pre_add(self, item: Any) -> None:
        super().pre_add(item)  # type: ignore[misc]
        extra = validate_extra(_entity_of_view(self), item.extra, None)
        if extra != item.extra:
            item.extra = extra

    def pre_update(self, item: Any) -> None:
        super().pre_update(item)  # type: ignore[misc]
        hist = inspect(item).attrs.extra.history
        old = hist.deleted[0] if hist.deleted else (hist.unchanged[0] if hist.unchanged else None)
        new = item.extra
        if new == old:  # extra not sent (or unchanged): the stored values stay as they are
            return
        item.extra = validate_extra(_entity_of_view(self), new, old if isinstance(old, Mapping) else None)

"""Custom fields on FAB lists: columns, search and sort on values kept in the JSON column ``extra``.

Why not FAB's own filters: FAB builds a view's search form and filters once at startup, but every
county defines its own fields and may change them without a restart. So the listed fields come from
the tenant's current definition per request (``list:`` in the definition, else the first
:data:`~app.forms.custom_fields.LIST_DEFAULT`), and the search panel posts plain query arguments
(``_cf_<code>``; ``_cf_<code>_from`` / ``_to`` for numbers and dates) that become one more FAB filter.

The SQL is SQLAlchemy's JSON element access, which compiles to ``JSON_EXTRACT`` on SQLite and
``->>`` on PostgreSQL: text contains (case-insensitive), a choice or yes/no equals, a multichoice
holds the option, a number or date lies in a range. On PostgreSQL a number is only cast where the
stored value is a JSON number, so a value kept from an older definition of another type cannot
break a search.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import request
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.interface import SQLAInterface
from sqlalchemy import asc, case, desc, func, or_

from app.extensions import db
from app.forms.definition import NUMERIC_TYPES, FieldDef, FormDef
from app.forms.schemas import display

PREFIX = "cf_"
"""Column and form-field name prefix of custom fields (same as ``app.forms.custom_fields.PREFIX``)."""

ARG_PREFIX = "_cf_"
SEARCHABLE = ("text", "textarea", "choice", "multichoice", "boolean", "date", *NUMERIC_TYPES)
RANGE_TYPES = ("date", *NUMERIC_TYPES)
YES, NO = "是", "否"


@dataclass(frozen=True)
class Condition:
    """One search condition on one custom field (``op``: contains, equals, has, from, to)."""

    field: FieldDef
    op: str
    value: Any


def _is_postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _number(model: Any, code: str) -> Any:
    element = model.extra[code]
    if _is_postgres():
        return case((func.json_typeof(element) == "number", element.as_float()), else_=None)
    return element.as_float()


def _text(model: Any, code: str) -> Any:
    return model.extra[code].as_string()


def sort_key(model: Any, f: FieldDef) -> Any:
    """The SQL expression a list sorts a custom field by."""
    return _number(model, f.code) if f.type in NUMERIC_TYPES else _text(model, f.code)


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def clause(model: Any, c: Condition) -> Any:
    """The WHERE clause of one condition (SQLite and PostgreSQL)."""
    code = c.field.code
    if c.op == "contains":
        return _text(model, code).ilike(f"%{_escaped(c.value)}%", escape="\\")
    if c.op == "has":  # a multichoice list, stored as JSON text: look for the quoted option
        raw = _text_of_json(model, code)
        needles = {json.dumps(c.value), json.dumps(c.value, ensure_ascii=False)}
        return or_(*[raw.like(f"%{_escaped(n)}%", escape="\\") for n in needles])
    if c.op == "equals" and c.field.type == "boolean":
        wanted = c.value == YES
        if _is_postgres():  # ->> gives 'true' / 'false'
            return _text(model, code) == ("true" if wanted else "false")
        return func.json_extract(model.extra, f'$."{code}"') == (1 if wanted else 0)
    if c.op == "equals":
        return _text(model, code) == c.value
    target = _number(model, code) if c.field.type in NUMERIC_TYPES else _text(model, code)
    return target >= c.value if c.op == "from" else target <= c.value


def _text_of_json(model: Any, code: str) -> Any:
    """The element as JSON text (a list stays a list): ``->`` cast to text on PostgreSQL, JSON_EXTRACT on SQLite."""
    if _is_postgres():
        return func.cast(model.extra.op("->")(code), db.Text)
    return func.json_extract(model.extra, f'$."{code}"')


class CustomFieldFilter(BaseFilter):
    """A FAB filter whose value is a :class:`Condition` (not shown in FAB's own search form)."""

    name = "自定义字段"

    def apply(self, query: Any, value: Any) -> Any:
        return query.filter(clause(self.model, value))


def _parse(f: FieldDef, text: str) -> Any:
    """A typed search bound (None when it does not read as the field's type)."""
    text = text.strip()
    if not text:
        return None
    if f.type == "date":
        try:
            return dt.date.fromisoformat(text).isoformat()
        except ValueError:
            return None
    try:
        return float(text)
    except ValueError:
        return None


def conditions(form: FormDef, args: Mapping[str, str]) -> list[Condition]:
    """The search conditions the request asks for (unknown fields and unreadable bounds are ignored)."""
    out: list[Condition] = []
    for f in form.fields:
        if f.type not in SEARCHABLE:
            continue
        name = ARG_PREFIX + f.code
        if f.type in RANGE_TYPES:
            for suffix in ("from", "to"):
                bound = _parse(f, str(args.get(f"{name}_{suffix}") or ""))
                if bound is not None:
                    out.append(Condition(f, suffix, bound))
            continue
        value = str(args.get(name) or "").strip()
        if not value:
            continue
        if f.type == "multichoice":
            out.append(Condition(f, "has", value))
        elif f.type in ("choice", "boolean"):
            out.append(Condition(f, "equals", value))
        else:
            out.append(Condition(f, "contains", value))
    return out


def add_conditions(filters: Any, conds: list[Condition]) -> Any:
    """``filters`` plus one :class:`CustomFieldFilter` per condition (a new Filters object)."""
    if not conds:
        return filters
    joined = filters.copy()
    for c in conds:
        joined.add_filter("extra", CustomFieldFilter, c)
    return joined


def search_panel(form: FormDef, args: Mapping[str, str], path: str) -> dict[str, Any]:
    """What the list template needs to draw the search panel (current values filled in)."""
    fields = []
    for f in form.fields:
        if f.type not in SEARCHABLE:
            continue
        name = ARG_PREFIX + f.code
        choices = list(f.choices) if f.type in ("choice", "multichoice") else ([YES, NO] if f.type == "boolean" else [])
        fields.append({"name": name, "label": f.label, "type": f.type, "choices": choices,
                       "kind": "range" if f.type in RANGE_TYPES else "value", "value": args.get(name, ""),
                       "value_from": args.get(f"{name}_from", ""), "value_to": args.get(f"{name}_to", "")})
    keep = [(k, v) for k, v in args.items() if not k.startswith(ARG_PREFIX) and not k.startswith("page_")]
    active = any(k.startswith(ARG_PREFIX) and v for k, v in args.items())
    return {"fields": fields, "keep": keep, "active": active, "clear_url": path}


def list_value(f: FieldDef, extra: Mapping[str, Any] | None) -> str:
    value = (extra or {}).get(f.code)
    return "" if value is None or value == "" else display(f, value)


def export_value(f: FieldDef, extra: Mapping[str, Any] | None) -> Any:
    """A custom value for an xlsx cell: dates and numbers typed, lists joined, yes/no in Chinese."""
    value = (extra or {}).get(f.code)
    if value is None or value == "":
        return None
    if f.type == "date" and isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    if isinstance(value, bool):
        return YES if value else NO
    return value


class CustomFieldsInterface(SQLAInterface):
    """FAB's data interface that can also sort by a custom field (``cf_<code>`` order column)."""

    def apply_order_by(self, query: Any, order_column: str, order_direction: str, aliases_mapping: Any = None,
                       bypass_many_to_many: bool = False, add_pk: bool = False) -> Any:
        if order_column.startswith(PREFIX):
            from app.forms.custom_fields import current_custom

            live = current_custom(str(self.obj.__tablename__))
            f = live.form.field_index.get(order_column[len(PREFIX):]) if live is not None else None
            if f is None:
                return query
            direction = asc if order_direction == "asc" else desc
            return query.order_by(direction(sort_key(self.obj, f)), direction(self.get_pk()))
        return super().apply_order_by(query, order_column, order_direction, aliases_mapping=aliases_mapping,
                                      bypass_many_to_many=bypass_many_to_many, add_pk=add_pk)



LIST_DEFAULT = 3
"""Custom fields listed when the definition does not say (``list:``); also ``custom_fields.LIST_DEFAULT``."""


class CustomFieldsListMixin:
    """The list-side hooks of :class:`~app.core.views.TenantModelView` for custom fields.

    The host (``CustomFieldsViewMixin``) provides ``_cf_live()``: the tenant's current definition.
    """

    def _cf_live(self) -> Any:
        raise NotImplementedError

    def list_extra_columns(self) -> list[tuple[str, str]]:
        live = self._cf_live()
        if live is None:
            return []
        return [(PREFIX + f.code, f.label) for f in _list_fields(live.form)]

    def list_extra_values(self, item: Any) -> dict[str, Any]:
        live = self._cf_live()
        if live is None:
            return {}
        extra = getattr(item, "extra", None)
        return {PREFIX + f.code: list_value(f, extra) for f in _list_fields(live.form)}

    def list_joined_filters(self, filters: Any) -> Any:
        joined = super().list_joined_filters(filters)  # type: ignore[misc]
        live = self._cf_live()
        return add_conditions(joined, conditions(live.form, request.args)) if live is not None else joined

    def list_search_panel(self) -> dict[str, Any] | None:
        live = self._cf_live()
        return search_panel(live.form, request.args, request.path) if live is not None else None

    def export_extra_columns(self) -> list[tuple[str, Any]]:
        live = self._cf_live()
        if live is None:
            return []
        return [(f.label, _extra_getter(f, export_value)) for f in live.form.fields if f.type != "attachment"]

    def extra_field_labels(self) -> dict[str, str]:
        live = self._cf_live()
        return {f.code: f.label for f in live.form.fields} if live is not None else {}

    def conflict_extra_rows(self, item: Any, form: Any) -> list[dict[str, Any]]:
        """The custom fields' saved value (theirs) beside what the clerk typed (mine) on the conflict page."""
        live = self._cf_live()
        if live is None:
            return []
        extra = getattr(item, "extra", None) or {}
        rows = []
        for f in live.form.fields:
            name = PREFIX + f.code
            theirs = display(f, extra.get(f.code))
            mine = display(f, form[name].data) if name in form else "—"
            rows.append({"label": f.label, "theirs": theirs, "mine": mine, "differs": theirs != mine})
        return rows


def _list_fields(form: FormDef) -> tuple[FieldDef, ...]:
    listed = getattr(form, "list_fields", None)  # an EntityFormDef says which; else the first few
    if listed is not None:
        return tuple(listed)
    return tuple(f for f in form.fields if f.type != "attachment")[:LIST_DEFAULT]


def _extra_getter(f: FieldDef, convert: Any) -> Any:
    return lambda item: convert(f, getattr(item, "extra", None))

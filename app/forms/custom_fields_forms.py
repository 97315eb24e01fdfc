"""The WTForms side of custom fields: a view's add/edit form plus the tenant's fields, per definition version.

Why a subclass per (form, tenant, version): FAB builds a view's forms once at startup, but each county
defines its own fields and may change them at any time; the subclass is built on first use and cached.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError
from wtforms import Form

from app.forms.custom_fields import _LOCK, PREFIX, LiveCustom, load_values
from app.forms.definition import FieldDef
from app.forms.schemas import to_json

_FORMS: dict[tuple[int, int | None, int], type[Form]] = {}


def _form_value(f: FieldDef, value: Any) -> Any:
    if f.type in ("org_unit", "person") and value is not None:
        return str(value)
    return value


def _posted_value(f: FieldDef, value: Any) -> Any:
    if f.type == "boolean":
        return bool(value)
    if f.type == "multichoice":
        return list(value or [])
    return value if value not in ("", None) else None


def custom_form(base: type[Form], live: LiveCustom) -> type[Form]:
    """``base`` (a view's add or edit form) plus the custom fields of one definition version (cached)."""
    key = (id(base), live.tenant_id, live.version)
    cls = _FORMS.get(key)
    if cls is not None:
        return cls
    from app.forms.wtforms_gen import build_field

    form = live.form
    names = {PREFIX + f.code: f for f in form.fields}

    def process(self: Any, formdata: Any = None, obj: Any = None, data: Any = None, extra_filters: Any = None,
                **kwargs: Any) -> None:
        extra = (getattr(obj, "extra", None) or {}) if obj is not None else {}
        for name, f in names.items():
            if f.code in extra:
                kwargs.setdefault(name, _form_value(f, extra[f.code]))
        base.process(self, formdata, obj, data=data, extra_filters=extra_filters, **kwargs)
        self._cf_values = None
        _fill_choices(self, names)

    def validate(self: Any, extra_validators: Any = None) -> bool:
        ok = base.validate(self, extra_validators)
        raw = {f.code: _posted_value(f, self[name].data) for name, f in names.items()}
        try:
            values = load_values(live, raw)
        except ValidationError as exc:
            messages = exc.messages if isinstance(exc.messages, dict) else {"_form": exc.messages}
            for code, texts in messages.items():
                name = PREFIX + str(code)
                if name in self:
                    self[name].errors = [*(self[name].errors or []),
                                         *[str(t) for t in (texts if isinstance(texts, list) else [texts])]]
            return False
        self._cf_values = to_json(values)
        return ok

    def populate_obj(self: Any, obj: Any) -> None:
        for name, field in self._fields.items():
            if name not in names:
                field.populate_obj(obj, name)
        if self._cf_values is not None:
            obj.extra = {**(getattr(obj, "extra", None) or {}), **self._cf_values}

    attrs: dict[str, Any] = {name: build_field(f) for name, f in names.items()}
    attrs.update(process=process, validate=validate, populate_obj=populate_obj, cf_names=list(names))
    cls = type(f"{base.__name__}Custom", (base,), attrs)
    with _LOCK:
        if len(_FORMS) > 2_000:
            _FORMS.clear()
        _FORMS[key] = cls
    return cls


def _fill_choices(form: Any, names: Mapping[str, FieldDef]) -> None:
    from app.forms.views import _person_choices, _unit_choices

    for name, f in names.items():
        if f.type == "org_unit":
            form[name].choices = _unit_choices("")
        elif f.type == "person":
            form[name].choices = _person_choices()

"""A marshmallow schema derived from a form definition: the one validator for screens, API and imports.

Why derived and cached: a county changes a form without a restart, so the schema is built from
the definition on first use and cached per (tenant, code, version) -- versions never change, so
the cache never goes stale.  Every message is Chinese and names no internal class.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from threading import Lock
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from app.core.schema_messages import SCHEMA_MESSAGES
from app.core.text_rules import control_char_message, find_control_chars
from app.forms.definition import FieldDef, FormDef

_CACHE: dict[tuple[int | None, str, int], type[Schema]] = {}
_CACHE_LOCK = Lock()
_CACHE_MAX = 2_000

_UNKNOWN = ("Unknown field.", SCHEMA_MESSAGES["unknown"])
_BASE_MESSAGES = {"required": "必填", "null": "必填"}
_INVALID = {"text": "应为文本", "textarea": "应为文本", "integer": "应为整数", "decimal": "应为数字",
            "money": "应为金额（最多两位小数）", "date": "应为日期，如 2025-03-31", "choice": "应为文本",
            "multichoice": "应为选项列表", "boolean": "应为“是”或“否”", "org_unit": "应为组织机构编号",
            "person": "应为人员编号", "attachment": "应为上传的文件"}


class FormSchema(Schema):
    """Base of every derived schema: unknown fields are rejected, with a Chinese message."""

    class Meta:
        unknown = RAISE

    def handle_error(self, error: ValidationError, data: Any, **kwargs: Any) -> None:
        messages = error.messages if isinstance(error.messages, dict) else {"_form": error.messages}
        fixed: dict[str, list[str]] = {}
        for key, value in messages.items():
            texts = value if isinstance(value, list) else [value]
            out: list[str] = []
            for text in texts:
                if isinstance(text, dict):  # list items: {0: [...]}
                    out.extend(str(m) for sub in text.values() for m in (sub if isinstance(sub, list) else [sub]))
                else:
                    out.append("未知字段（表单中没有这个字段）" if text in _UNKNOWN else str(text))
            fixed[str(key)] = out
        raise ValidationError(fixed)


class WholeNumber(fields.Integer):
    """An integer that refuses 1.5 or "1.5" instead of quietly cutting it to 1."""

    def _validated(self, value: Any) -> int:
        if isinstance(value, float) and not value.is_integer():
            raise self.make_error("invalid")
        if isinstance(value, str) and not re.fullmatch(r"\s*[-+]?\d+\s*", value):
            raise self.make_error("invalid")
        return super()._validated(value)  # type: ignore[no-any-return]


def _max_two_places(value: float) -> bool:
    return math.isfinite(value) and abs(round(value, 2) - value) < 1e-9


class _Finite(validate.Validator):
    def __call__(self, value: float) -> float:
        if not math.isfinite(value):
            raise ValidationError("应为有限的数字")
        return value


class _SafePattern(validate.Validator):
    """A definition's pattern, matched only on values within the field's length limit."""

    def __init__(self, pattern: str, limit: int) -> None:
        self.regex = re.compile(pattern)
        self.limit = limit

    def __call__(self, value: str) -> str:
        if len(value) > self.limit or not self.regex.fullmatch(value):
            raise ValidationError(f"格式不符合要求（{self.regex.pattern}）")
        return value


class NoControlChars(validate.Validator):
    """Refuses NUL and other invisible controls (they break every later export); tab and newlines only in
    multi-line text."""

    def __init__(self, label: str, multiline: bool) -> None:
        self.label = label
        self.multiline = multiline

    def __call__(self, value: str) -> str:
        code = find_control_chars(value, multiline=self.multiline) if isinstance(value, str) else None
        if code is not None:
            raise ValidationError(control_char_message(self.label, code))
        return value


def _range(f: FieldDef) -> list[validate.Validator]:
    if f.min is None and f.max is None:
        return []
    if f.min is not None and f.max is not None:
        message = f"应在 {f.min:g} 到 {f.max:g} 之间"
    elif f.min is not None:
        message = f"不能小于 {f.min:g}"
    else:
        message = f"不能大于 {f.max:g}"
    return [validate.Range(min=f.min, max=f.max, error=message)]


def build_field(f: FieldDef) -> fields.Field:
    """The marshmallow field for one form field."""
    messages = {**_BASE_MESSAGES, "invalid": _INVALID[f.type]}
    common: dict[str, Any] = {"required": f.required, "allow_none": not f.required, "error_messages": messages,
                              "metadata": {"label": f.label, "description": f.help or ""}}
    t = f.type
    if t in ("text", "textarea"):
        validators: list[validate.Validator] = [validate.Length(max=f.text_limit, error=f"最多 {f.text_limit} 个字"),
                                                NoControlChars(f.label, multiline=t == "textarea")]
        if f.required:
            validators.append(validate.Length(min=1, error="必填"))
        if f.pattern:
            validators.append(_SafePattern(f.pattern, f.text_limit))
        return fields.String(validate=validators, **common)
    if t == "integer":
        messages["too_large"] = "数字太大"
        return WholeNumber(strict=False, validate=_range(f), **common)
    if t in ("decimal", "money"):
        extra: list[validate.Validator] = [_Finite()]
        if t == "money":
            extra.append(_TwoPlaces())
        return fields.Float(allow_nan=False, validate=[*extra, *_range(f)], **common)
    if t == "date":
        return fields.Date(**common)
    if t == "choice":
        return fields.String(validate=_one_of(f), **common)
    if t == "multichoice":
        item = fields.String(validate=_one_of(f), error_messages={"invalid": "选项应为文本"})
        validators = [validate.Length(min=1, error="至少选一项")] if f.required else []
        return fields.List(item, validate=validators, **common)
    if t == "boolean":
        return fields.Boolean(**common)
    if t in ("org_unit", "person"):
        return WholeNumber(strict=False, validate=validate.Range(min=1, error=_INVALID[t]), **common)
    return AttachmentValue(**common)


class AttachmentValue(fields.Field):  # type: ignore[type-arg]
    """An attachment's stored value: the uploaded file's metadata (``app.forms.attachments``).

    A bare file name of up to 255 characters is still accepted: older records and custom fields keep
    one. Form records only ever get metadata here: the service turns uploads into it and refuses
    anything else a client sends (``attachments.take_uploads``).
    """

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        from app.forms.attachments import is_meta

        if isinstance(value, str) and len(value) <= 255:
            return value
        if is_meta(value):
            return dict(value)
        raise self.make_error("invalid")


def _one_of(f: FieldDef) -> validate.OneOf:
    return validate.OneOf(f.choices, error=f"「{{input}}」不是可选项（可选：{'、'.join(f.choices)}）")


class _TwoPlaces(validate.Validator):
    def __call__(self, value: float) -> float:
        if not _max_two_places(value):
            raise ValidationError(_INVALID["money"])
        return value


def schema_class(form: FormDef, tenant_id: int | None, version: int) -> type[Schema]:
    """The (cached) schema class of one version of a tenant's form."""
    key = (tenant_id, form.code, version)
    cls = _CACHE.get(key)
    if cls is None:
        attrs: dict[str, Any] = {f.code: build_field(f) for f in form.fields}
        cls = FormSchema.from_dict(attrs, name=f"Form_{form.code}_v{version}")
        with _CACHE_LOCK:
            if len(_CACHE) >= _CACHE_MAX:
                _CACHE.clear()
            _CACHE[key] = cls
    return cls


def load_data(form: FormDef, tenant_id: int | None, version: int, data: Mapping[str, Any]) -> dict[str, Any]:
    """Validated Python values (dates as ``date``); raises ``ValidationError`` with ``{code: [messages]}``."""
    if not isinstance(data, Mapping):
        raise ValidationError({"_form": ["数据应为对象（字段代码: 值）"]})
    loaded: dict[str, Any] = schema_class(form, tenant_id, version)().load(dict(data))
    return loaded


def to_json(values: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-safe copy for storage: dates as ISO text."""
    return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in values.items()}


# -- what lists show, filter and sort on ----------------------------------------------------------

LIST_FIELD_COUNT = 6
LIST_FILTERS = ("org_unit", "period", "status")
"""Org unit (its whole subtree), period (periodic forms) and status."""
LIST_SORT_LABELS = {"-id": "最新在前", "id": "最早在前"}
PLACE_COLUMN_LABELS = {"person": "人员", "org_unit": "填报单位"}


def list_columns(form: FormDef) -> list[tuple[str, str]]:
    """(key, Chinese header): the record's place, the first fields, the status."""
    place = "person" if form.target == "person" else "org_unit"
    cols: list[tuple[str, str]] = [(place, PLACE_COLUMN_LABELS[place])]
    if form.periodic:
        cols.append(("period", "期间"))
    shown = [f for f in form.fields if f.type not in ("textarea", "attachment")][:LIST_FIELD_COUNT]
    cols += [(f"data.{f.code}", f.label) for f in shown]
    cols.append(("status", "状态"))
    return cols


def display(f: FieldDef | None, value: Any) -> str:
    """A stored value as text for a screen (escaped by the template, never marked safe).

    The one exception is an uploaded file: a download link (``Markup``) built from escaped parts.
    """
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, Mapping) and f is not None and f.type == "attachment":
        return attachment_link(f, value)
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list):
        return "、".join(str(x) for x in value)
    if isinstance(value, float) and f is not None and f.type == "money":
        return f"{value:.2f}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def file_size_text(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def attachment_link(f: FieldDef, value: Mapping[str, Any]) -> str:
    """``<a href=…>name</a>（size）``: every part escaped; plain text where no link can be built."""
    from markupsafe import Markup

    from app.forms.attachments import is_meta, screen_url

    if not is_meta(value):
        return str(value.get("name") or "—")
    size = file_size_text(int(value["size"]))
    url = screen_url(f.code, value)
    if url is None:
        return f"{value['name']}（{size}）"
    return Markup('<a class="cd-attachment" href="{}" download>{}</a>（{}）').format(url, value["name"], size)

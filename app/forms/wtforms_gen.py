"""A WTForms form class derived from a form definition, for the generic screens.

Rendering and the simple checks (required, length, pattern) live here; types, ranges, choices and
cross-field rules are checked once, by the service (marshmallow schema + formulas), and their
messages are put back on the fields, so a screen and the API say the same thing.  Numbers and
dates are posted as text and converted by the schema (Chinese messages, one code path).

Attachment fields are file inputs (the form is posted as multipart): the chosen file goes to the
service as an ``IncomingFile``; no file keeps the stored one; the "删除附件" box beside the current
file clears it. Whether a file is required is the service's check (an edit keeps the stored file).
"""

from __future__ import annotations

from threading import Lock
from typing import Any

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from markupsafe import Markup
from wtforms import BooleanField, HiddenField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms import validators as v
from wtforms.utils import unset_value
from wtforms.widgets import DateInput, NumberInput, html_params

from app.forms.definition import FieldDef, FormDef

PLACE_FIELDS = ("org_unit_id", "person_id", "period")
_CACHE: dict[tuple[int | None, str, int], type[FlaskForm]] = {}
_LOCK = Lock()
PERIOD_PLACEHOLDER = {"monthly": "2025-03", "quarterly": "2025-Q1", "yearly": "2025"}
CLEAR_SUFFIX = "-clear"
"""The "删除附件" checkbox of an attachment is posted as ``<field code>-clear`` (no field code has a hyphen)."""


class _RequiredMark:
    """Marks a field required for the label's asterisk without a check (the service checks attachments)."""

    field_flags = {"required": True}

    def __call__(self, form: Any, field: Any) -> None:
        return None


class AttachmentInput:
    """A file input, and for a stored file a download link with a "删除附件" checkbox.

    The browser is told the accepted kinds and refuses a file over the size limit before sending it
    (a request over the limit is cut off by the server before the form can be shown again with the
    rest of the input); the server checks both again either way.
    """

    def __call__(self, field: Any, **kwargs: Any) -> Markup:
        from app.documents.uploads import ATTACHMENT_SUFFIXES, max_upload_bytes, too_large_message
        from app.forms.schemas import display

        limit = max_upload_bytes()
        kwargs.setdefault("id", field.id)
        kwargs.pop("value", None)
        kwargs.pop("required", None)
        check = (f"if(this.files.length&&this.files[0].size>{limit}){{alert(this.dataset.tooLarge);"
                 "this.value='';}")
        html = [Markup("<input {}>").format(Markup(html_params(
            type="file", name=field.name, accept=ATTACHMENT_SUFFIXES, data_max_bytes=str(limit),
            data_too_large=too_large_message(limit), onchange=check, **kwargs))), accepted_hint(limit)]
        current = field.current
        if current is not None:
            html.append(Markup('<div class="cd-attachment-current">当前文件：{} '
                               '<label class="checkbox-inline"><input type="checkbox" name="{}" value="y"{}> 删除附件'
                               "</label></div>").format(display(field.def_, current), field.name + CLEAR_SUFFIX,
                                                        Markup(" checked") if field.clear else ""))
        return Markup("").join(html)


def accepted_hint(limit: int) -> Markup:
    """What may be uploaded, said beside the input (the browser's ``accept`` filter is not shown to the user)."""
    from app.documents.uploads import ATTACHMENT_ACCEPTED

    return Markup('<span class="help-block cd-attachment-hint">可上传 {}，单个文件不超过 {} MB</span>').format(
        ATTACHMENT_ACCEPTED, f"{limit / 1024 / 1024:g}")


class AttachmentField(FileField):  # type: ignore[misc]
    """A form field's file upload; ``current`` is the stored file (edit screen), ``clear`` the posted box."""

    widget = AttachmentInput()

    def __init__(self, *args: Any, field_def: FieldDef, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.def_ = field_def
        self.current: Any = None
        self.clear = False

    def process(self, formdata: Any, data: Any = unset_value, extra_filters: Any = None) -> None:
        super().process(formdata, data, extra_filters)
        stored: Any = self.object_data
        self.current = stored if isinstance(stored, dict) else None
        if formdata is not None:
            self.clear = bool(formdata.get(self.name + CLEAR_SUFFIX))


def attachment_field(f: FieldDef) -> AttachmentField:
    help_text = f.help or ""
    return AttachmentField(label=f.label, description=help_text, field_def=f,
                           validators=[_RequiredMark()] if f.required else [])


def _required(f: FieldDef) -> list[Any]:
    return [v.InputRequired(message="必填")] if f.required else [v.Optional()]


def build_field(f: FieldDef) -> Any:
    common: dict[str, Any] = {"label": f.label, "description": f.help or ""}
    t = f.type
    if t in ("text", "textarea", "attachment"):
        checks = [*_required(f), v.Length(max=f.text_limit, message=f"最多 {f.text_limit} 个字")]
        if f.pattern:
            checks.append(v.Regexp(f"^(?:{f.pattern})$", message=f"格式不符合要求（{f.pattern}）"))
        cls = TextAreaField if t == "textarea" else StringField
        return cls(validators=checks, **common)
    if t in ("integer", "decimal", "money"):
        step = "1" if t == "integer" else ("0.01" if t == "money" else "any")
        kw: dict[str, Any] = {"step": step}
        kw.update({k: getattr(f, k) for k in ("min", "max") if getattr(f, k) is not None})
        return StringField(validators=_required(f), widget=NumberInput(**kw), **common)
    if t == "date":
        return StringField(validators=_required(f), widget=DateInput(), **common)
    if t == "choice":
        return SelectField(choices=[("", "—"), *[(c, c) for c in f.choices]], validators=_required(f),
                           validate_choice=False, **common)
    if t == "multichoice":
        return SelectMultipleField(choices=[(c, c) for c in f.choices], validators=_required(f),
                                   validate_choice=False, **common)
    if t == "boolean":
        return BooleanField(**common)
    # org_unit / person: the choices are the tenant's rows, filled per request
    return SelectField(choices=[], validators=_required(f), validate_choice=False, coerce=str, **common)


def form_class(form: FormDef, tenant_id: int | None, version: int) -> type[FlaskForm]:
    """The (cached) WTForms class of one version of a tenant's form, with the record's place fields."""
    key = (tenant_id, form.code, version)
    cls = _CACHE.get(key)
    if cls is not None:
        return cls
    attrs: dict[str, Any] = {}
    if form.target == "person":
        attrs["person_id"] = SelectField("人员", choices=[], validate_choice=False,
                                         validators=[v.InputRequired(message="必填")])
    else:
        attrs["org_unit_id"] = SelectField("填报单位", choices=[], validate_choice=False,
                                           validators=[v.InputRequired(message="必填")])
    if form.periodic:
        attrs["period"] = StringField("期间", validators=[v.InputRequired(message="必填")],
                                      render_kw={"placeholder": PERIOD_PLACEHOLDER[form.periodicity]})
    for f in form.fields:
        attrs[f.code] = attachment_field(f) if f.type == "attachment" else build_field(f)
    attrs["row_version"] = HiddenField()
    cls = type(f"Form_{form.code}_v{version}", (FlaskForm,), attrs)
    with _LOCK:
        if len(_CACHE) > 2_000:
            _CACHE.clear()
        _CACHE[key] = cls
    return cls


def sections_of(form: FormDef) -> list[tuple[str, list[str]]]:
    """(section title, field codes) in order, for rendering the form by sections."""
    return [(s.title, [f.code for f in s.fields]) for s in form.sections]


def payload_from(form: FormDef, wtf: FlaskForm) -> dict[str, Any]:
    """The service payload from a posted form: blank inputs become ``None``."""
    from werkzeug.datastructures import FileStorage

    from app.forms.attachments import IncomingFile

    data: dict[str, Any] = {}
    for f in form.fields:
        value = wtf[f.code].data
        if f.type == "attachment" and isinstance(wtf[f.code], AttachmentField):
            if isinstance(value, FileStorage) and value.filename:
                data[f.code] = IncomingFile.from_storage(value)
            elif wtf[f.code].clear:
                data[f.code] = None
            continue  # no file chosen and the box not ticked: the stored file stays
        if f.type == "boolean":
            data[f.code] = bool(value)
        elif f.type == "multichoice":
            data[f.code] = list(value or [])
        else:
            data[f.code] = value if value not in ("", None) else None
    payload: dict[str, Any] = {"data": data}
    for name in PLACE_FIELDS:
        if name in wtf:
            payload[name] = wtf[name].data or None
    return payload


def show_stored_files(form: FormDef, wtf: FlaskForm, record: Any) -> None:
    """Give a posted edit form the record's stored files, so a page shown again with errors still lists them.

    A posted form is built from the request alone (the stored values must not fill inputs the user
    emptied); a file input cannot be refilled, so without this the current file would vanish from
    the page although saving without a new file keeps it.
    """
    for f in form.fields:
        field = wtf[f.code] if f.code in wtf else None
        if isinstance(field, AttachmentField):
            stored = (record.data or {}).get(f.code)
            field.current = stored if isinstance(stored, dict) else None


def record_to_formdata(form: FormDef, record: Any) -> dict[str, Any]:
    """Initial values of the edit form from a stored record."""
    values: dict[str, Any] = {}
    for f in form.fields:
        value = (record.data or {}).get(f.code)
        if f.type in ("org_unit", "person") and value is not None:
            value = str(value)
        values[f.code] = value
    values["org_unit_id"] = str(record.org_unit_id) if record.org_unit_id else ""
    values["person_id"] = str(record.person_id) if record.person_id else ""
    values["period"] = record.period or ""
    values["row_version"] = str(record.row_version)
    return values

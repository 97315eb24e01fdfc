"""Creating, changing, submitting and listing form records: the logic behind every screen, API and import.

Order of checks for a save: the definition's schema (types, required, ranges, choices), the
record's place (org unit / person of the right level, period of the right shape), references,
formula defaults, cross-field rules, the natural key, the period lock, the editor's row version.
Any error leaves the database untouched; field errors come back as ``{field_code: [messages]}``
(``_form`` for rules and record-level problems), all in Chinese.

Text is stored exactly as typed: HTML is escaped when shown (Jinja autoescape), and a value such
as ``=cmd|' /C calc'!A0`` stays text (exports escape it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import and_, func, select

from app.core import clock
from app.core.errors import CountyDeskError, NotFound, ScopeDenied
from app.core.locking import check_row_version
from app.core.tenancy import current_scope, current_tenant_id
from app.core.text_rules import period_problem
from app.extensions import db
from app.forms.attachments import IncomingFile, remove_files, take_uploads, write_files
from app.forms.attachments import install as install_attachment_cleanup
from app.forms.definition import FORMULA_TYPES, FieldDef, FormDef, RuleDef, load_form
from app.forms.listing import COUNT_CAP, Page, list_records
from app.forms.models import FormDefinition, FormRecord
from app.forms.periods import PERIOD_HINTS, PERIOD_PATTERNS, due_date, is_locked, lock_date, period_end
from app.forms.schemas import load_data, to_json
from app.formulas import Formula, FormulaError, FType, compile_formula
from app.orgs.models import OrgUnit
from app.staffing.models import Person


class FormValidationError(CountyDeskError):
    """Nothing was saved; ``errors`` maps field codes (or ``_form``) to Chinese messages."""

    status = 422

    def __init__(self, errors: Mapping[str, list[str]]):
        self.errors = {k: list(v) for k, v in errors.items()}
        lines = "；".join(f"{k}：{'、'.join(v)}" for k, v in self.errors.items())
        super().__init__(f"填写有误，未保存：{lines}")


class PeriodLocked(ScopeDenied):
    """The period's records are read-only after its lock date, except for county admins."""


@dataclass(frozen=True)
class LiveForm:
    """A tenant's form in its current (or a given) version."""

    row: FormDefinition
    form: FormDef

    @property
    def version(self) -> int:
        return self.row.version


# -- definitions ------------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def _parse(tenant_id: int | None, code: str, version: int, spec_key: str) -> FormDef:
    import json

    return load_form(json.loads(spec_key))


def form_def(row: FormDefinition) -> FormDef:
    """The parsed definition of a stored version (cached per tenant, code and version)."""
    import json

    return _parse(row.tenant_id, row.code, row.version, json.dumps(row.spec, sort_keys=True, ensure_ascii=False))


def current_forms() -> list[LiveForm]:
    """The current tenant's forms, latest version of each, by name."""
    latest = (select(FormDefinition.code, func.max(FormDefinition.version).label("v"))
              .group_by(FormDefinition.code).subquery())
    rows = db.session.scalars(select(FormDefinition).join(
        latest, and_(latest.c.code == FormDefinition.code, latest.c.v == FormDefinition.version))
        .order_by(FormDefinition.name)).all()
    return [LiveForm(r, form_def(r)) for r in rows]


def get_form(code: str, version: int | None = None) -> LiveForm:
    stmt = select(FormDefinition).where(FormDefinition.code == code)
    stmt = stmt.where(FormDefinition.version == version) if version else stmt.order_by(FormDefinition.version.desc())
    row = db.session.scalars(stmt.limit(1)).first()
    if row is None:
        raise NotFound(f"没有表单「{code}」")
    return LiveForm(row, form_def(row))


def save_definition(form: FormDef, source: str = "designer") -> FormDefinition:
    """Store a changed form as a new version (an unchanged one is returned as is)."""
    try:
        live = get_form(form.code)
    except NotFound:
        live = None
    if live is not None and live.row.spec == form.to_dict():
        return live.row
    scope = current_scope()
    row = FormDefinition(code=form.code, version=(live.version + 1) if live else 1, name=form.name,
                         target=form.target, periodicity=form.periodicity, spec=form.to_dict(), source=source,
                         created_by=scope.user_id if scope else None)
    db.session.add(row)
    db.session.flush()
    return row


# -- records ----------------------------------------------------------------------------------


def get_record(code: str, record_id: int) -> FormRecord:
    """A record of the current tenant's form (another tenant's id is simply not found)."""
    record = db.session.scalars(select(FormRecord).where(FormRecord.form_code == code,
                                                         FormRecord.id == record_id)).first()
    if record is None:
        raise NotFound("记录不存在")
    return record


def create_record(code: str, payload: Mapping[str, Any], *, today: dt.date | None = None) -> FormRecord:
    """Validate and add a record; ``payload``: ``data`` plus ``org_unit_id``/``person_id``/``period``."""
    live = get_form(code)
    record = FormRecord(form_code=code, form_version=live.version, status="draft")
    with db.session.no_autoflush:
        written = _fill(live, record, payload, creating=True, today=today)
    scope = current_scope()
    record.created_by = scope.user_id if scope else None
    db.session.add(record)
    _flush(written)
    return record


def update_record(code: str, record_id: int, payload: Mapping[str, Any], row_version: Any, *,
                  today: dt.date | None = None) -> FormRecord:
    """Validate and change a record edited from version ``row_version`` (stale → ``EditConflict``)."""
    record = get_record(code, record_id)
    live = get_form(code)
    mine = {k: ({"name": v.filename} if isinstance(v, IncomingFile) else v)  # a file is shown by its name
            for k, v in dict(payload.get("data") or {}).items()}
    check_row_version(record.row_version, row_version, theirs=dict(record.data or {}), mine=mine)
    _check_lock(live.form, record.period, today)
    with db.session.no_autoflush:  # one flush, so the row version moves on exactly once
        written = _fill(live, record, payload, creating=False, today=today)
        record.form_version = live.version
        _stamp(record)
    _flush(written)
    return record


def submit_record(code: str, record_id: int, row_version: Any, *, today: dt.date | None = None) -> FormRecord:
    record = get_record(code, record_id)
    live = get_form(code)
    check_row_version(record.row_version, row_version, theirs=dict(record.data or {}))
    _check_lock(live.form, record.period, today)
    record.status = "submitted"
    record.submitted_at = _now()
    _stamp(record)
    _flush()
    return record


def delete_record(code: str, record_id: int, row_version: Any = None, *, today: dt.date | None = None) -> None:
    record = get_record(code, record_id)
    if row_version is not None:
        check_row_version(record.row_version, row_version, theirs=dict(record.data or {}))
    _check_lock(get_form(code).form, record.period, today)
    install_attachment_cleanup()  # the record's files go once the delete commits
    db.session.delete(record)
    _flush()


def _flush(written: list[Path] | None = None) -> None:
    """Flush, or roll back and remove the files just written (nothing is kept of a failed save)."""
    try:
        db.session.flush()
    except Exception:
        db.session.rollback()
        remove_files(written or [])
        raise


def _now() -> dt.datetime:
    return clock.utcnow_naive()


def _stamp(record: FormRecord) -> None:
    scope = current_scope()
    record.updated_at = _now()
    record.updated_by = scope.user_id if scope else None


def _fill(live: LiveForm, record: FormRecord, payload: Mapping[str, Any], *, creating: bool,
          today: dt.date | None) -> list[Path]:
    """Check the payload and set it on ``record``; the attachment files written (removed again if the flush fails)."""
    form = live.form
    errors: dict[str, list[str]] = {}
    raw = payload.get("data")
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise FormValidationError({"_form": ["数据应为对象（字段代码: 值）"]})
    # An update may send only the changed fields; the record is validated whole.
    raw = dict(raw) if creating else {**{k: v for k, v in (record.data or {}).items() if k in form.field_index},
                                      **raw}
    if creating:
        for f in form.fields:
            if f.code not in raw and f.default is not None and not f.default_is_formula:
                raw[f.code] = f.default
    uploads = take_uploads(form, raw, {} if creating else (record.data or {}), errors)
    try:
        values = load_data(form, current_tenant_id(), live.version, raw)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_form": exc.messages}
        for k, v in messages.items():  # a refused upload's own message is enough for its field
            errors.setdefault(str(k), [str(m) for m in (v if isinstance(v, list) else [v])])
        values = {}
    org_unit_id, person_id, period = _place(form, payload, record, creating, errors)
    _check_refs(form, values, errors)
    if errors:
        raise FormValidationError(errors)
    if creating:
        _apply_formula_defaults(form, values, raw)
    _check_rules(form, values, errors)
    if errors:
        raise FormValidationError(errors)
    natural_key = _natural_key(form, org_unit_id, person_id, period, values)
    if natural_key is not None:
        clash = select(FormRecord.id).where(FormRecord.form_code == form.code, FormRecord.natural_key == natural_key)
        if record.id is not None:
            clash = clash.where(FormRecord.id != record.id)
        if db.session.scalar(clash.limit(1)) is not None:
            raise FormValidationError({"_form": [_duplicate_message(form, period)]})
    _check_lock(form, period, today)
    written = write_files(uploads)  # the record is valid: now the files may be kept
    full = {f.code: None for f in form.fields} if creating else dict(record.data or {})
    full.update(to_json(values))
    record.data = full
    # Set through the relationships: the data layer checks a pending row's references by its objects.
    record.org_unit = db.session.get(OrgUnit, org_unit_id) if org_unit_id else None
    record.person = db.session.get(Person, person_id) if person_id else None
    record.period, record.natural_key = period, natural_key
    return written


def _duplicate_message(form: FormDef, period: str | None) -> str:
    if form.periodic:
        who = "该人员" if form.target == "person" else "该单位"
        return f"{who} {period} 的「{form.name}」已经填报过，请打开原记录修改"
    return f"已有相同{'、'.join(form.field_by_code(k).label for k in form.key)}的记录"


def _place(form: FormDef, payload: Mapping[str, Any], record: FormRecord, creating: bool,
           errors: dict[str, list[str]]) -> tuple[int | None, int | None, str | None]:
    """The record's org unit, person and period, checked against the form's target and periodicity."""

    def pick(key: str) -> Any:
        return payload[key] if key in payload else (None if creating else getattr(record, key))

    org_unit_id: int | None = None
    person_id: int | None = None
    if form.target == "person":
        person_id = _as_id(pick("person_id"))
        person = db.session.get(Person, person_id) if person_id else None
        if person is None or person.tenant_id != current_tenant_id():
            errors["person_id"] = ["请选择人员" if person_id is None else "人员不存在"]
        else:
            org_unit_id = person.org_unit_id
    else:
        org_unit_id = _as_id(pick("org_unit_id"))
        unit = db.session.get(OrgUnit, org_unit_id) if org_unit_id else None
        if unit is None or unit.tenant_id != current_tenant_id():
            errors["org_unit_id"] = ["请选择填报单位" if org_unit_id is None else "组织机构不存在"]
        elif unit.level != form.target:
            from app.orgs.models import ORG_LEVEL_LABELS

            errors["org_unit_id"] = [f"「{form.name}」由{ORG_LEVEL_LABELS[form.target]}填报，"
                                     f"「{unit.name}」是{ORG_LEVEL_LABELS.get(unit.level, unit.level)}"]
    period = None
    if form.periodic:
        text = pick("period")
        period = str(text).strip() if text not in (None, "") else None
        if period is None:
            errors["period"] = [f"请填写期间（{PERIOD_HINTS[form.periodicity]}）"]
        elif (problem := period_problem(period, (form.periodicity,))) is not None:
            errors["period"] = [problem]
    return org_unit_id, person_id, period


def _as_id(value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _check_refs(form: FormDef, values: Mapping[str, Any], errors: dict[str, list[str]]) -> None:
    """Org-unit and person fields must point at the current tenant's rows (scoped reads hide others)."""
    for f in form.fields:
        ref = values.get(f.code)
        if ref is None or f.type not in ("org_unit", "person"):
            continue
        model = OrgUnit if f.type == "org_unit" else Person
        if db.session.scalar(select(model.id).where(model.id == ref)) is None:
            errors.setdefault(f.code, []).append("组织机构不存在" if f.type == "org_unit" else "人员不存在")


@dataclass(frozen=True)
class CompiledChecks:
    """A form's formula defaults and cross-field rules, compiled once per definition.

    Why: an import checks every row with the same formulas; compiling (or even looking a formula up
    in a cache keyed on the whole definition) per row cost more than computing it.
    """

    inputs: tuple[tuple[str, bool], ...]
    """(field code, numeric?) of every field a formula may read."""
    defaults: tuple[tuple[FieldDef, Formula], ...]
    rules: tuple[tuple[RuleDef, Formula], ...]

    def values(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The formula inputs from validated values (numbers as float)."""
        out: dict[str, Any] = {}
        for code, numeric in self.inputs:
            v = values.get(code)
            out[code] = float(v) if numeric and v is not None else v
        return out


@lru_cache(maxsize=512)
def compiled_checks(form: FormDef) -> CompiledChecks:
    from app.hooks.formulas import formula_registry

    functions = formula_registry()
    variables = form.variables()
    inputs = tuple((f.code, FORMULA_TYPES[f.type] is FType.NUMBER) for f in form.fields if f.type in FORMULA_TYPES)
    defaults = tuple((f, compile_formula(f.default[1:], variables, functions)) for f in form.fields
                     if f.default_is_formula)
    rules = tuple((r, compile_formula(r.check, variables, functions)) for r in form.rules)
    return CompiledChecks(inputs, defaults, rules)


def _apply_formula_defaults(form: FormDef, values: dict[str, Any], raw: Mapping[str, Any],
                            checks: CompiledChecks | None = None) -> None:
    """Fill the formula defaults of fields not given (each sees the defaults computed before it)."""
    checks = checks or compiled_checks(form)
    for f, formula in checks.defaults:
        if f.code in raw:
            continue
        try:
            value = formula.compute(checks.values(values))
        except FormulaError as exc:
            raise FormValidationError({f.code: [f"默认值公式无法计算：{exc.message}"]}) from None
        if value is not None and f.type == "integer":
            value = round(float(value))  # type: ignore[arg-type]
        values[f.code] = value


def _check_rules(form: FormDef, values: Mapping[str, Any], errors: dict[str, list[str]],
                 checks: CompiledChecks | None = None) -> None:
    """Each cross-field rule must hold; a rule over blank inputs (result empty) is not violated."""
    checks = checks or compiled_checks(form)
    if not checks.rules:
        return
    inputs = checks.values(values)
    for rule, formula in checks.rules:
        try:
            ok = formula.compute(inputs)
        except FormulaError as exc:
            errors.setdefault("_form", []).append(f"校验规则「{rule.check}」无法计算：{exc.message}")
            continue
        if ok is False:
            errors.setdefault("_form", []).append(rule.message)


def _natural_key(form: FormDef, org_unit_id: int | None, person_id: int | None, period: str | None,
                 values: Mapping[str, Any]) -> str | None:
    target = f"p{person_id}" if form.target == "person" else f"o{org_unit_id}"
    if form.periodic:
        return f"{target}|{period}"
    if form.key:
        parts = [to_json({"v": values.get(k)})["v"] for k in form.key]
        return "|".join([target, *("" if p is None else str(p) for p in parts)])[:255]
    return None


# -- the period lock ----------------------------------------------------------------------------


def _check_lock(form: FormDef, period: str | None, today: dt.date | None) -> None:
    scope = current_scope()
    if not (scope is not None and scope.county_wide_writer) and is_locked(form, period, today):
        locked_from = lock_date(form, period)
        raise PeriodLocked(f"「{form.name}」{period} 期已于 {locked_from} 锁定，只有县管理员可以修改")


def record_label(record: FormRecord) -> str:
    parts = []
    if record.org_unit is not None:
        parts.append(record.org_unit.name)
    if record.person is not None:
        parts.append(record.person.name)
    if record.period:
        parts.append(record.period)
    return " ".join(parts) or f"#{record.id}"


__all__ = ["COUNT_CAP", "PERIOD_HINTS", "PERIOD_PATTERNS", "FormValidationError", "LiveForm", "Page", "PeriodLocked",
           "create_record", "current_forms", "delete_record", "due_date", "form_def", "get_form", "get_record",
           "is_locked", "list_records", "lock_date", "period_end", "save_definition", "submit_record",
           "update_record"]

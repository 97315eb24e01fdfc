"""Importing a form's records from xlsx/csv: a ``RowHandler`` built from the form's definition.

The generic engine (``app.documents.importer``) reads the file, collects every problem and decides
between dry run and commit; this module knows one form's rows:

* columns: the place (单位代码 + 单位名称 for org forms, 身份证号 + 姓名 for person forms), 期间 for
  periodic forms, then every field by its Chinese label — or by its code, when the file's header
  uses codes (the header is peeked at upload time and travels in the job's arguments);
* each row is checked by the same code as a screen or the API: the form's derived marshmallow
  schema (``schemas.load_data``), formula defaults and cross-field rules (``services``), the natural
  key, the period lock — plus, explicitly, the user's capture scope, because the write is bulk;
* everything that depends only on the form is prepared once per import, not per row: the schema
  (per set of columns present), the compiled formulas (``services.compiled_checks``), the lock date;
* rows are written in bulk by ``app.forms.io_import_write`` (COPY / Core statements, not the ORM).
  The tenant and scope checks the ORM guard would do are therefore done here, row by row, and
  reported as row problems;
* writing by natural key makes a re-run of the same file change nothing (no UPDATE, no audit event).

Text cells are stored exactly as typed (``=cmd|' /C calc'!A0`` stays that text; exports escape it).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marshmallow import Schema, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.errors import CountyDeskError
from app.core.tenancy import current_scope, current_tenant_id
from app.core.text_rules import ascii_digits, find_control_chars
from app.documents.importer import ImportColumn, ImportCounts, ImportProblem
from app.forms import services
from app.forms.definition import FieldDef, FormDef
from app.forms.definition_model import NUMERIC_TYPES
from app.forms.io_import_write import CleanRow, write_rows
from app.forms.models import FormRecord
from app.forms.periods import local_today
from app.forms.schemas import schema_class, to_json
from app.orgs.models import ORG_LEVEL_LABELS, OrgUnit
from app.staffing.models import Person

ORG_CODE, ORG_NAME, ID_NUMBER, PERSON_NAME, PERIOD = "@org_code", "@org_name", "@id_number", "@person_name", "@period"
PLACE_ALIASES = {"单位代码": "org_code", "单位名称": "org_name", "身份证号": "id_number", "姓名": "person_name",
                 "期间": "period"}
"""A header may name the place columns by these codes too."""
TRUE_TEXTS = frozenset({"是", "true", "yes", "y", "1", "对", "√"})
FALSE_TEXTS = frozenset({"否", "false", "no", "n", "0", "×"})
LIST_SPLIT = re.compile(r"[、,，;；\n]")
HANDLER_FACTORY = "app.forms.io_import.FormImport"


class NoNaturalKey(CountyDeskError):
    status = 422


@dataclass(frozen=True)
class _Existing:
    id: int
    data: dict[str, Any]
    row_version: int


def column_help(f: FieldDef) -> str:
    """What the template's help sheet says about a field: type, bounds, choices, the form's own help."""
    parts = [f.type_label]
    if f.type == "date":
        parts.append("格式 2025-03-31")
    elif f.type == "boolean":
        parts.append("填“是”或“否”")
    elif f.type in ("choice", "multichoice"):
        parts.append("可选：" + "、".join(f.choices) + ("（多项用顿号“、”分隔）" if f.type == "multichoice" else ""))
    elif f.type == "org_unit":
        parts.append("填组织机构代码")
    elif f.type == "person":
        parts.append("填人员的身份证号")
    elif f.type == "money":
        parts.append("最多两位小数")
    if f.min is not None:
        parts.append(f"最小 {f.min:g}")
    if f.max is not None:
        parts.append(f"最大 {f.max:g}")
    if f.type in ("text", "textarea"):
        parts.append(f"最多 {f.text_limit} 字")
    if f.help:
        parts.append(f.help)
    return "；".join(parts)


def peek_header(path: str | Path) -> list[str]:
    """The first row of an upload (cheap: xlsx in read-only mode, csv first non-blank line).

    A file that cannot be read gives no header: the engine reports why when it reads the whole file.
    """
    from app.core.encodings import sniff_codec
    from app.tenantio.tables import check_xlsx_archive

    path = Path(path)
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        try:
            check_xlsx_archive(path)
            book = load_workbook(path, read_only=True, data_only=True)
        except Exception:  # noqa: BLE001  (not a workbook: the engine reports it when it reads the file)
            return []
        try:
            for values in book.worksheets[0].iter_rows(values_only=True, max_row=1):
                return ["" if v is None else str(v).strip() for v in values]
            return []
        finally:
            book.close()
    try:
        codec = sniff_codec(path)
        with path.open("r", encoding=codec, newline="") as stream:
            for record in csv.reader(stream):
                header = [h.strip() for h in record]
                if any(header):
                    return header
    except (OSError, ValueError, csv.Error):
        return []
    return []


class FormImport:
    """The rows of one form (current version) as an importable kind (``RowHandler``)."""

    def __init__(self, form_code: str, header: list[str] | None = None) -> None:
        self.live = services.get_form(form_code)
        self.form: FormDef = self.live.form
        self.title = self.form.name
        if not self.form.periodic and not self.form.key:
            raise NoNaturalKey(f"表单「{self.form.name}」没有设置唯一键（key），导入无法判断记录是否已存在、"
                               "重复导入会产生重复记录；请县管理员先在表单定义中设置 key")
        present = set(header or ())
        place: list[ImportColumn] = []
        if self.form.target == "person":
            place += [ImportColumn("身份证号", ID_NUMBER, True, "人员的18位居民身份证号（本县人员名册中已有的人员）"),
                      ImportColumn("姓名", PERSON_NAME, False, "仅供核对：填写时须与身份证号对应的人员一致，可留空")]
        else:
            level = ORG_LEVEL_LABELS.get(self.form.target, self.form.target)
            place += [ImportColumn("单位代码", ORG_CODE, True, f"填报单位（{level}）的组织机构代码"),
                      ImportColumn("单位名称", ORG_NAME, False, "仅供核对：填写时须与单位代码一致，可留空")]
        if self.form.periodic:
            place.append(ImportColumn("期间", PERIOD, True, services.PERIOD_HINTS[self.form.periodicity]))
        place = [_aliased(c, PLACE_ALIASES[c.label], present) for c in place]
        self.fields = [f for f in self.form.fields if f.type != "attachment"]
        field_columns = [_aliased(ImportColumn(f.label, f.code, f.required, column_help(f)), f.code, present)
                         for f in self.fields]
        self.columns: Sequence[ImportColumn] = [*place, *field_columns]
        self.label_of = {c.field: c.label for c in self.columns}
        self.present = {c.field for c in self.columns} if header is None else \
            {c.field for c in self.columns if c.label in present}
        scope = current_scope()
        self.capture_path = scope.capture_path if scope else None
        self.county_admin = scope is not None and scope.county_wide_writer  # the same test as a screen's
        self._units: dict[str, tuple[int, str, str, str]] | None = None
        self._persons: dict[str, tuple[int, str, int | None]] | None = None
        self._existing: dict[str, _Existing] | None = None
        # The form's derived schema (as ``schemas.load_data`` uses it), instantiated once per set of columns
        # a row has: a new instance per row deep-copies every field and costs more than the validation, and
        # a schema of every field spends most of its time on fields the file does not have.
        self._schema_class = schema_class(self.form, current_tenant_id(), self.live.version)
        self._schemas: dict[frozenset[str], Schema] = {}
        self._required = frozenset(f.code for f in self.form.fields if f.required)
        self._checks = services.compiled_checks(self.form)
        self._today = local_today()

    # -- lookups, each one query per import ----------------------------------------------------------

    def units(self) -> dict[str, tuple[int, str, str, str]]:
        """Org unit code → (id, name, path, level) of the current tenant (the ORM read is tenant-scoped)."""
        if self._units is None:
            from app.extensions import db

            rows = db.session.execute(select(OrgUnit.code, OrgUnit.id, OrgUnit.name, OrgUnit.path, OrgUnit.level))
            self._units = {r.code: (r.id, r.name, r.path, r.level) for r in rows}
        return self._units

    def unit_paths(self) -> dict[int, str]:
        return {v[0]: v[2] for v in self.units().values()}

    def persons(self) -> dict[str, tuple[int, str, int | None]]:
        """ID number → (id, name, org unit id) of the current tenant's people."""
        if self._persons is None:
            from app.extensions import db

            rows = db.session.execute(select(Person.id_number, Person.id, Person.name, Person.org_unit_id))
            self._persons = {r.id_number.upper(): (r.id, r.name, r.org_unit_id) for r in rows}
        return self._persons

    def existing(self) -> dict[str, _Existing]:
        """Natural key → the stored record of this form."""
        if self._existing is None:
            from app.extensions import db

            rows = db.session.execute(select(FormRecord.natural_key, FormRecord.id, FormRecord.data,
                                             FormRecord.row_version)
                                      .where(FormRecord.form_code == self.form.code,
                                             FormRecord.natural_key.is_not(None)))
            self._existing = {r.natural_key: _Existing(r.id, dict(r.data or {}), r.row_version) for r in rows}
        return self._existing

    # -- one row ----------------------------------------------------------------------------------

    def parse(self, row: dict[str, str]) -> tuple[CleanRow | None, list[ImportProblem]]:
        problems: list[ImportProblem] = []

        def bad(field: str | None, value: Any, why: str) -> None:
            problems.append(ImportProblem(None, self.label_of.get(field or "", None), None if value is None
                                          else str(value), why))

        org_unit_id, person_id = self._place(row, bad)
        period = None
        if self.form.periodic:
            period = ascii_digits((row.get(PERIOD) or "").strip())
            if not period:
                bad(PERIOD, period, f"期间必填（{services.PERIOD_HINTS[self.form.periodicity]}）")
            elif not services.PERIOD_PATTERNS[self.form.periodicity].match(period):
                bad(PERIOD, period, f"期间无效，应为{services.PERIOD_HINTS[self.form.periodicity]}")
            elif not self.county_admin and services.is_locked(self.form, period, self._today):
                bad(PERIOD, period, f"{period} 期已于 {services.lock_date(self.form, period)} 锁定，"
                                    "只有县管理员可以修改")
        given = self._cells(row, bad)
        if problems:
            return None, problems
        fresh: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        for f in self.fields:
            if f.code not in fresh and f.default is not None and not f.default_is_formula:
                fresh[f.code] = f.default
        old: _Existing | None = None
        if self.form.periodic:  # the key is the place and period: known before the values
            key = services._natural_key(self.form, org_unit_id, person_id, period, {})
            assert key is not None
            old = self.existing().get(key)
            values = self._load(self._merged(old, given) if old else fresh, bad)
        else:  # the key's fields are required: read them from the row as if it were new
            values = self._load(fresh, bad)
            key = services._natural_key(self.form, org_unit_id, person_id, period, values or {})
            assert key is not None
            old = self.existing().get(key) if values is not None else None
            if old is not None:
                values = self._load(self._merged(old, given), bad)
        if values is None:
            return None, problems
        if old is None:
            try:
                services._apply_formula_defaults(self.form, values, fresh, self._checks)
            except services.FormValidationError as exc:
                self._put(exc.errors, given, bad)
                return None, problems
        errors: dict[str, list[str]] = {}
        services._check_rules(self.form, values, errors, self._checks)
        if errors:
            self._put(errors, given, bad)
            return None, problems
        base = {f.code: None for f in self.form.fields} if old is None else dict(old.data)
        base.update(to_json(values))
        clean = CleanRow(key, org_unit_id, person_id, period, base)
        if old is not None:
            clean.existing_id, clean.old_data, clean.old_version = old.id, old.data, old.row_version
        return clean, []

    def _merged(self, old: _Existing, given: Mapping[str, Any]) -> dict[str, Any]:
        """An update keeps the stored values of the columns the file does not have.

        Stored blanks are left out: checking them changes nothing (the stored blank stays, and a required
        field left out is still reported), and the schema then checks only the fields the row has.
        """
        return {**{k: v for k, v in old.data.items() if v is not None and k in self.form.field_index}, **given}

    def _place(self, row: Mapping[str, str], bad: Any) -> tuple[int | None, int | None]:
        """The row's org unit (by code) or person (by ID number), checked against the user's capture scope."""
        org_unit_id: int | None = None
        person_id: int | None = None
        if self.form.target == "person":
            number = ascii_digits((row.get(ID_NUMBER) or "").strip().upper())
            person = self.persons().get(number)
            if not number:
                bad(ID_NUMBER, number, "身份证号必填")
                return None, None
            if person is None:
                why = "身份证号被 Excel 存成了数字，请把该列设为文本后重填" if "E+" in number or "." in number \
                    else "本县人员名册中没有这个身份证号的人员"
                bad(ID_NUMBER, number, why)
                return None, None
            person_id, name, org_unit_id = person
            given_name = (row.get(PERSON_NAME) or "").strip()
            if given_name and given_name != name:
                bad(PERSON_NAME, given_name, f"姓名与身份证号不符（名册中为「{name}」）")
            shown = f"人员「{name}」"
        else:
            code = ascii_digits((row.get(ORG_CODE) or "").strip())
            unit = self.units().get(code)
            if not code:
                bad(ORG_CODE, code, "单位代码必填")
                return None, None
            if unit is None:
                bad(ORG_CODE, code, "本县没有这个单位代码")
                return None, None
            org_unit_id, name, _, level = unit
            if level != self.form.target:
                bad(ORG_CODE, code, f"「{self.form.name}」由{ORG_LEVEL_LABELS.get(self.form.target, '')}填报，"
                                    f"「{name}」是{ORG_LEVEL_LABELS.get(level, level)}")
            given_name = (row.get(ORG_NAME) or "").strip()
            if given_name and given_name != name:
                bad(ORG_NAME, given_name, f"单位名称与单位代码不符（代码 {code} 是「{name}」）")
            shown = f"「{name}」"
        if self.capture_path is not None:
            path = self.unit_paths().get(org_unit_id) if org_unit_id is not None else None
            if path is None or not path.startswith(self.capture_path):
                column = ID_NUMBER if self.form.target == "person" else ORG_CODE
                bad(column, row.get(column), f"{shown}不在您的辖区内，无权导入")
        return org_unit_id, person_id

    def _cells(self, row: Mapping[str, str], bad: Any) -> dict[str, Any]:
        """Cell texts of the present columns → what the schema loads (blank → None)."""
        out: dict[str, Any] = {}
        for f in self.fields:
            if f.code not in self.present:
                continue
            text = (row.get(f.code) or "").strip() if f.type not in ("text", "textarea") else (row.get(f.code) or "")
            if not text.strip():
                out[f.code] = None
                continue
            value: Any = text
            bad_char = find_control_chars(text, multiline=f.type == "textarea")
            if bad_char:  # a line break is a control character too, but in a multi-line field
                bad(f.code, text, f"含有换行或不可见的控制字符 {bad_char}：请删除后重试")
                continue
            if f.type in NUMERIC_TYPES or f.type == "date":
                value = text = ascii_digits(text)
            if f.type == "boolean":
                lowered = text.strip().lower()
                if lowered in TRUE_TEXTS:
                    value = True
                elif lowered in FALSE_TEXTS:
                    value = False
                else:
                    bad(f.code, text, "应为“是”或“否”")
            elif f.type == "multichoice":
                value = [part.strip() for part in LIST_SPLIT.split(text) if part.strip()]
            elif f.type == "org_unit":
                unit = self.units().get(text)
                value = unit[0] if unit else None
                if unit is None:
                    bad(f.code, text, "本县没有这个组织机构代码")
            elif f.type == "person":
                person = self.persons().get(text.upper())
                value = person[0] if person else None
                if person is None:
                    bad(f.code, text, "本县人员名册中没有这个身份证号的人员")
            out[f.code] = value
        return out

    def _load(self, raw: dict[str, Any], bad: Any) -> dict[str, Any] | None:
        """The form's schema (the same one screens and the API use); errors become row problems."""
        try:
            loaded: dict[str, Any] = self._schema_for(raw).load(dict(raw))
            return loaded
        except ValidationError as exc:
            messages = exc.messages if isinstance(exc.messages, dict) else {"_form": exc.messages}
            self._put({str(k): [str(m) for m in (v if isinstance(v, list) else [v])] for k, v in messages.items()},
                      raw, bad)
            return None

    def _schema_for(self, raw: Mapping[str, Any]) -> Schema:
        """The schema limited to the row's fields and the required ones (same result as the whole schema:
        an absent optional field yields nothing either way; an unknown key is still refused)."""
        present = frozenset(raw)
        schema = self._schemas.get(present)
        if schema is None:
            known = (present | self._required) & self.form.field_index.keys()
            schema = self._schema_class() if present - known else self._schema_class(only=known)
            self._schemas[present] = schema
        return schema

    def _put(self, errors: Mapping[str, list[str]], raw: Mapping[str, Any], bad: Any) -> None:
        for code, messages in errors.items():
            field = code if code in self.form.field_index else None
            value = raw.get(code) if field else None
            if isinstance(value, list):
                value = "、".join(str(v) for v in value)
            for message in messages:
                bad(field, value, message)

    def key(self, clean: CleanRow) -> Hashable:
        return clean.natural_key

    # -- writing ----------------------------------------------------------------------------------

    def apply(self, rows: list[CleanRow], session: Session) -> ImportCounts:
        """Insert new rows and update changed ones in bulk, with one audit event per written row."""
        return write_rows(self.form.code, self.live.version, rows, session)


def _aliased(column: ImportColumn, code: str, header: set[str]) -> ImportColumn:
    """The column under its code when the file's header names it so (and not by its label)."""
    if column.label not in header and code in header:
        return ImportColumn(code, column.field, column.required, column.help)
    return column


def handler_args(form_code: str, path: str | Path) -> dict[str, Any]:
    """What the job needs to rebuild the handler: the form and the file's header (codes or labels)."""
    return {"form_code": form_code, "header": peek_header(path)}


def enqueue_form_import(form_code: str, upload_id: str, path: str | Path, *, dry_run: bool, tenant_id: int | None,
                        user_id: int | None) -> Any:
    """One RQ job for one stored upload; the job page (``/jobs/<id>``) shows progress and problems."""
    from app.documents.tasks import enqueue_import

    return enqueue_import(HANDLER_FACTORY, upload_id, dry_run=dry_run, tenant_id=tenant_id, user_id=user_id,
                          handler_args=handler_args(form_code, path))


def import_file(form_code: str, path: str | Path, *, dry_run: bool, progress: Any = None) -> Any:
    """Import a file synchronously in the current scope (CLI, benchmark): the engine's ``ImportResult``."""
    from app.documents.importer import run_import

    handler = FormImport(form_code, header=peek_header(path))
    return run_import(handler, path, dry_run=dry_run, progress=progress)


__all__ = ["HANDLER_FACTORY", "CleanRow", "FormImport", "NoNaturalKey", "column_help", "enqueue_form_import",
           "handler_args", "import_file", "peek_header"]

"""What a form definition is: the field types and the frozen dataclasses a parsed form becomes.

Why separate from the parser (``app.forms.definition``): everything derived from a form (schemas,
WTForms classes, compiled rules, import columns) needs only these types, not the checking code.
A :class:`FormDef` is immutable and hashable, so derived things can be cached per definition; its
hash is computed once, because caches keyed on it are consulted per record (imports: per row).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from app.formulas import FType, Variable

FIELD_TYPES = ("text", "textarea", "integer", "decimal", "money", "date", "choice", "multichoice",
               "boolean", "org_unit", "person", "attachment")
FIELD_TYPE_LABELS = {"text": "文本", "textarea": "多行文本", "integer": "整数", "decimal": "小数", "money": "金额",
                     "date": "日期", "choice": "单选", "multichoice": "多选", "boolean": "是/否",
                     "org_unit": "组织机构", "person": "人员", "attachment": "附件"}
TARGETS = ("village", "town", "county", "person")
ORG_TARGETS = ("village", "town", "county")
PERIODICITIES = ("none", "monthly", "quarterly", "yearly")
NUMERIC_TYPES = ("integer", "decimal", "money")
TEXT_TYPES = ("text", "textarea")
FORMULA_TYPES: dict[str, FType] = {"integer": FType.NUMBER, "decimal": FType.NUMBER, "money": FType.NUMBER,
                                   "text": FType.TEXT, "textarea": FType.TEXT, "choice": FType.TEXT,
                                   "date": FType.DATE, "boolean": FType.BOOL}
RESERVED_CODES = frozenset({"id", "row_version", "status", "period", "org_unit_id", "person_id", "form_version",
                            "natural_key", "csrf_token", "data", "tenant_id"})
TEXT_DEFAULT_MAX = 500
TEXTAREA_DEFAULT_MAX = 10_000
PATTERN_MAX = 200
CODE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
FIELD_CODE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

FORM_KEYS = ("code", "name", "target", "periodicity", "due_day", "lock_after_days", "key", "sections", "rules",
             "print")
SECTION_KEYS = ("title", "fields")
FIELD_KEYS = ("code", "label", "type", "required", "default", "min", "max", "max_length", "pattern", "help",
              "choices")
RULE_KEYS = ("check", "message")


@dataclass(frozen=True)
class FieldDef:
    code: str
    label: str
    type: str
    required: bool = False
    default: Any = None
    """A literal (JSON-safe; dates as ``YYYY-MM-DD``) or a formula text starting with ``=``."""
    min: float | None = None
    max: float | None = None
    max_length: int | None = None
    pattern: str | None = None
    help: str | None = None
    choices: tuple[str, ...] = ()

    @property
    def default_is_formula(self) -> bool:
        return isinstance(self.default, str) and self.default.startswith("=")

    @property
    def type_label(self) -> str:
        return FIELD_TYPE_LABELS[self.type]

    @property
    def text_limit(self) -> int:
        if self.max_length:
            return self.max_length
        return TEXTAREA_DEFAULT_MAX if self.type == "textarea" else TEXT_DEFAULT_MAX

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "label": self.label, "type": self.type}
        if self.required:
            out["required"] = True
        for key in ("default", "min", "max", "max_length", "pattern", "help"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.choices:
            out["choices"] = list(self.choices)
        return out


@dataclass(frozen=True)
class SectionDef:
    title: str
    fields: tuple[FieldDef, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "fields": [f.to_dict() for f in self.fields]}


@dataclass(frozen=True)
class RuleDef:
    check: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "message": self.message}


@dataclass(frozen=True)
class FormDef:
    code: str
    name: str
    target: str
    periodicity: str = "none"
    due_day: int | None = None
    """Day of the month after the period by which the report is due (periodic forms)."""
    lock_after_days: int | None = None
    """Days after the due date from which the period's records are read-only (county admins excepted)."""
    key: tuple[str, ...] = ()
    sections: tuple[SectionDef, ...] = ()
    rules: tuple[RuleDef, ...] = ()
    signatures: tuple[str, ...] = ()
    """``print: {signatures: [...]}``: labels of the signature boxes of the printed form (村委会意见 …)."""
    field_index: dict[str, FieldDef] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        self.field_index.update({f.code: f for s in self.sections for f in s.fields})
        self._remember_hash()

    def _remember_hash(self) -> None:
        object.__setattr__(self, "_hash", hash((self.code, self.name, self.target, self.periodicity, self.due_day,
                                                self.lock_after_days, self.key, self.sections, self.rules,
                                                self.signatures)))

    def __hash__(self) -> int:
        """Computed once (``__post_init__``): hashing every field of every section per lookup cost more than
        the checks cached on it when an import validated a row."""
        return self._hash  # type: ignore[attr-defined,no-any-return]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_hash", None)  # string hashes differ between processes: recomputed on unpickling
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._remember_hash()

    @property
    def fields(self) -> tuple[FieldDef, ...]:
        """Every field, flat and in order (import templates, print layouts and lists use this)."""
        return tuple(f for s in self.sections for f in s.fields)

    @property
    def periodic(self) -> bool:
        return self.periodicity != "none"

    @property
    def org_target(self) -> bool:
        return self.target in ORG_TARGETS

    def field_by_code(self, code: str) -> FieldDef:
        return self.field_index[code]

    def variables(self) -> list[Variable]:
        return form_variables(self.fields)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "name": self.name, "target": self.target,
                               "periodicity": self.periodicity}
        if self.due_day is not None:
            out["due_day"] = self.due_day
        if self.lock_after_days is not None:
            out["lock_after_days"] = self.lock_after_days
        if self.key:
            out["key"] = list(self.key)
        out["sections"] = [s.to_dict() for s in self.sections]
        if self.rules:
            out["rules"] = [r.to_dict() for r in self.rules]
        if self.signatures:
            out["print"] = {"signatures": list(self.signatures)}
        return out


def form_variables(fields: Sequence[FieldDef]) -> list[Variable]:
    """The fields a formula may use, by code or Chinese label."""
    return [Variable(f.code, f.label, FORMULA_TYPES[f.type]) for f in fields if f.type in FORMULA_TYPES]


@dataclass(frozen=True)
class DefinitionProblem:
    path: tuple[Any, ...]
    """Key path inside the form dict (``("sections", 0, "fields", 2, "min")``), for line lookups."""
    where: str
    """Chinese location: 表单「code」第1节「基本情况」字段「births」."""
    message: str

    def __str__(self) -> str:
        return f"{self.where}：{self.message}"


class DefinitionError(ValueError):
    """A form definition with problems; ``problems`` holds all of them."""

    def __init__(self, problems: list[DefinitionProblem]):
        self.problems = problems
        super().__init__("表单定义有误：\n" + "\n".join(f"  - {p}" for p in problems))

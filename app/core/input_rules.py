"""Checks every core screen and API applies to what a user types, derived once from the column types.

Why derived from the columns: a limit written by hand per view is forgotten on the next view, and
then the database is the one to refuse (PostgreSQL: a DataError for a name longer than ``String(n)``
or a number beyond int4), which reaches the user as a 500. Here a text column refuses control
characters and more than its length, an integer column numbers beyond int4, a ``period`` column
anything but an ASCII period; the API (marshmallow) and the screens (WTForms) get the same rules with
the same Chinese messages, naming the field by the label the screen shows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from marshmallow import ValidationError
from wtforms import validators as wtv

from app.core.text_rules import control_char_message, find_control_chars, period_problem

INT4_MIN, INT4_MAX = -(2**31), 2**31 - 1
DEFAULT_PERIOD_KINDS = ("yearly", "monthly")


@dataclass(frozen=True)
class ColumnRule:
    name: str
    label: Any
    """The screen's label (a lazy string: shown in the user's language when the message is made)."""
    kind: str  # "text" | "int" | "period"
    max_length: int | None = None
    multiline: bool = False

    def problem(self, value: Any) -> str | None:
        """The Chinese message for ``value``, None when it may be saved (absent values are the schema's affair)."""
        if value is None or value == "":
            return None
        if self.kind == "period":
            return period_problem(value, DEFAULT_PERIOD_KINDS, str(self.label))
        if self.kind == "text" and isinstance(value, str):
            code = find_control_chars(value, multiline=self.multiline)
            if code is not None:
                return control_char_message(str(self.label), code)
            if self.max_length is not None and len(value) > self.max_length:
                return f"「{self.label!s}」最多 {self.max_length} 个字，现有 {len(value)} 个，请删减"
        if self.kind == "int" and isinstance(value, int) and not INT4_MIN <= value <= INT4_MAX:
            return f"「{self.label!s}」的数字太大，应在 {INT4_MIN} 到 {INT4_MAX} 之间"
        return None


def column_rules(model: type, columns: Iterable[str], labels: Mapping[str, Any],
                 lengths: bool = True) -> list[ColumnRule]:
    """The rules of the plain columns among ``columns`` (relations and properties have none).

    ``lengths=False``: the schema already checks ``String(n)`` (marshmallow-sqlalchemy adds ``Length``).
    """
    table_columns: Any = sa.inspect(model).columns
    rules = []
    for name in dict.fromkeys(columns):
        column = table_columns.get(name)
        if column is None or column.primary_key:
            continue
        label = labels.get(name) or labels.get(name.removesuffix("_id"), name)
        if name == "period":
            rules.append(ColumnRule(name, label, "period"))
        elif isinstance(column.type, sa.String):
            rules.append(ColumnRule(name, label, "text", column.type.length if lengths else None,
                                    multiline=column.type.length is None))
        elif isinstance(column.type, sa.Integer) and not isinstance(column.type, sa.BigInteger):
            rules.append(ColumnRule(name, label, "int"))
    return rules


class _ApiCheck:
    """One marshmallow validator per column (FAB takes one), running the column's rule then the view's own."""

    def __init__(self, rule: ColumnRule, own: Callable[[Any], Any] | None) -> None:
        self.rule, self.own = rule, own

    def __call__(self, value: Any) -> Any:
        problem = self.rule.problem(value)
        if problem is not None:
            raise ValidationError(problem)
        return self.own(value) if self.own is not None else value


class _FormCheck:
    """The same rule on a screen's field (WTForms)."""

    def __init__(self, rule: ColumnRule) -> None:
        self.rule = rule

    def __call__(self, form: Any, field: Any) -> None:
        problem = self.rule.problem(field.data)
        if problem is not None:
            raise wtv.StopValidation(problem)


def api_validators(model: type, columns: Iterable[str], labels: Mapping[str, Any],
                   own: Mapping[str, Any] | None) -> dict[str, Any]:
    """``validators_columns`` of a ModelRestApi: the view's own, each preceded by its column's rule."""
    result = dict(own or {})
    for rule in column_rules(model, columns, labels, lengths=False):
        result[rule.name] = _ApiCheck(rule, result.get(rule.name))
    return result


def form_validators(model: type, columns: Iterable[str], labels: Mapping[str, Any],
                    own: Mapping[str, list[Any]] | None) -> dict[str, list[Any]]:
    """``validators_columns`` of a ModelView: its column's rule first (it stops the chain), then the view's own."""
    result = {k: list(v) for k, v in (own or {}).items()}
    for rule in column_rules(model, columns, labels):
        result[rule.name] = [_FormCheck(rule), *result.get(rule.name, [])]
    return result


def screen_labels(model: type) -> dict[str, Any]:
    """The labels the model's screen shows (an API has only FAB's English ones), for the API's messages."""
    from flask_appbuilder import ModelView

    from app.core.registry import VIEW_SPECS

    for view in (spec.view for spec in VIEW_SPECS):
        datamodel = getattr(view, "datamodel", None)
        if isinstance(view, type) and issubclass(view, ModelView) and getattr(datamodel, "obj", None) is model:
            return dict(getattr(view, "label_columns", None) or {})
    return {}

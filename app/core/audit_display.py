"""Audit values as people read them: names instead of foreign-key ids, Chinese entity names.

Why at display time and not in the stored events: an event records what was written (ids), which
stays true when a unit is renamed or a person deleted; the label is looked up when the history is
shown, through the ORM, so only the current tenant's rows can be found. A target that no longer
exists shows its id marked （已删除）.

References are found from the mapping, not declared per model: a many-to-one relationship's
foreign key (``org_unit_id`` → the org unit), and a ``<table>_code`` column naming a row of a
table with a ``code`` column (``position_code`` → the position).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flask_babel import gettext
from sqlalchemy import inspect, select
from sqlalchemy.orm.interfaces import MANYTOONE

from app.extensions import db

DELETED_MARK = "（已删除）"
CODE_SUFFIX = "_code"


def shown(value: Any) -> str:
    """One stored value as text (empty as —, booleans as 是/否, lists joined)."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return gettext("是") if value else gettext("否")
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return str(value)


def model_for_table(table: str) -> Any:
    """The mapped class of a table name (None for unknown or form-record entities)."""
    for mapper in db.Model.registry.mappers:
        if getattr(mapper.local_table, "name", None) == table:
            return mapper.class_
    return None


def references(model: Any) -> dict[str, tuple[Any, str]]:
    """Snapshot key → (target class, target column key) for every reference the model holds."""
    mapper = inspect(model)
    out: dict[str, tuple[Any, str]] = {}
    for rel in mapper.relationships:
        if rel.direction is not MANYTOONE or len(rel.local_remote_pairs) != 1:
            continue
        local, remote = rel.local_remote_pairs[0]
        out[mapper.get_property_by_column(local).key] = (rel.mapper.class_, remote.key)
    for prop in mapper.column_attrs:
        if prop.key.endswith(CODE_SUFFIX) and prop.key not in out:
            target = model_for_table(prop.key.removesuffix(CODE_SUFFIX))
            if target is not None and "code" in inspect(target).column_attrs:
                out[prop.key] = (target, "code")
    return out


Pair = tuple[Mapping[str, Any], Mapping[str, Any]]


def reference_labels(model: Any, pairs: Iterable[Pair]) -> dict[str, dict[Any, str]]:
    """For each reference key: stored value → label, for every value the (before, after) pairs hold.

    One query per referenced table; reads are tenant-scoped by the data layer, so another county's
    row is never named (it shows as deleted).
    """
    refs = references(model)
    wanted: dict[str, set[Any]] = {key: set() for key in refs}
    for before, after in pairs:
        for snap in (before, after):
            for key in refs:
                value = snap.get(key)
                if value is not None and value != "":
                    wanted[key].add(value)
    out: dict[str, dict[Any, str]] = {}
    for key, values in wanted.items():
        if not values:
            continue
        target, column = refs[key]
        attr = getattr(target, column)
        with db.session.no_autoflush:
            found = {getattr(row, column): _label_of(row) for row in db.session.scalars(
                select(target).where(attr.in_(list(values))))}
        out[key] = {v: found.get(v, f"{v}{DELETED_MARK}") for v in values}
    return out


def _label_of(row: Any) -> str:
    return repr(row)


def record_label(model: Any, row_id: int) -> str | None:
    """The record an event is about, as its label (None when it no longer exists)."""
    if model is None:
        return None
    with db.session.no_autoflush:
        row = db.session.get(model, row_id)
    return _label_of(row) if row is not None else None

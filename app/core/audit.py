"""Automatic audit trail: every ORM create/update/delete of tenant data leaves one ``AuditEvent``.

Capture lives in the session's flush, like the tenant guard, so no screen, API, job or
command can change a county's rows without leaving history, and nobody has to remember
to call anything. Snapshots are taken from what the flush writes:

* create — ``after`` is the full row; ``before`` is empty;
* update — ``before`` and ``after`` hold the *changed columns only* (old and new values), so
  an event reads as a diff and the full row at any time is the create plus the diffs;
* delete — ``before`` is the full row; ``after`` is empty.

Values are JSON-safe (dates ISO, ``Decimal`` as text); ``id_number`` is always masked
(DOMAIN §9: the audit table is read by more people than the roster's edit form).

Hooks a model may define (all optional):

* ``__audited__ = False`` — not audited (derived tables such as staffing quotas);
* ``audit_entity`` — class attribute or property: the entity name (default: the table name;
  a form record returns ``"form:<code>"``);
* ``audit_snapshot(self, values: dict) -> dict`` — turns the row's column values (old or
  new, JSON-safe, keyed by attribute name) into the snapshot to store (a form record returns
  its payload). For updates both sides go through the hook and only keys whose value
  differs are kept.

Bulk Core writes (tenant loader, quota recompute) are not seen by the ORM; they record one
summary event with :func:`record_summary`, and the rows they update one event each with
:func:`record_bulk_updates` (old and new values: an accidental overwrite by a file can be seen and undone).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Connection, event, inspect, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import NO_VALUE
from sqlalchemy.orm.interfaces import MANYTOONE

from app.core import clock
from app.core.audit_models import AuditEvent
from app.core.idcard import mask_id_number
from app.core.locking import bump_row_version, is_versioned
from app.core.models import TenantScoped
from app.core.tenancy import current_scope

MASKED_KEYS = ("id_number",)
"""Snapshot keys that hold an ID number and are stored masked."""
SKIPPED_COLUMNS = ("tenant_id",)
PENDING_KEY = "countydesk_audit_pending"
TXN_KEY = "countydesk_audit_transaction"
BUMPED_KEY = "countydesk_versions_bumped"

_source: ContextVar[str | None] = ContextVar("countydesk_audit_source", default=None)


@contextlib.contextmanager
def audit_source(source: str) -> Iterator[None]:
    """Label the changes made inside the block (``import:<job id>``, ``loader``, ``workflow``…)."""
    token = _source.set(source)
    try:
        yield
    finally:
        _source.reset(token)


def current_source() -> str:
    """The explicit source, else ``api``/``screen`` by request path, else ``cli``."""
    explicit = _source.get()
    if explicit:
        return explicit
    from flask import has_request_context, request

    if has_request_context():
        return "api" if request.path.startswith("/api/") else "screen"
    return "cli"


def is_audited(obj: Any) -> bool:
    return isinstance(obj, TenantScoped) and not isinstance(obj, AuditEvent) and getattr(obj, "__audited__", True)


def entity_of(obj: Any) -> str:
    entity = getattr(obj, "audit_entity", None)
    return str(entity) if entity else str(inspect(obj).mapper.local_table.name)


def json_safe(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [json_safe(v) for v in value]
    return str(value)


def _finish(obj: Any, values: dict[str, Any]) -> dict[str, Any]:
    """Apply the model's snapshot hook, then mask ID numbers."""
    hook = getattr(obj, "audit_snapshot", None)
    snap = dict(hook(values)) if callable(hook) else values
    for key in MASKED_KEYS:
        if snap.get(key):
            snap[key] = mask_id_number(snap[key])
    return json_safe(snap)  # type: ignore[no-any-return]


def _column_keys(obj: Any) -> list[str]:
    return [p.key for p in inspect(obj).mapper.column_attrs if p.key not in SKIPPED_COLUMNS]


def _loaded(obj: Any, key: str) -> Any:
    """The attribute's value without a database round trip (None when not loaded)."""
    value = inspect(obj).dict.get(key, NO_VALUE)
    return None if value is NO_VALUE else value


def full_snapshot(obj: Any) -> dict[str, Any]:
    """The row as it is in the session now (new values), JSON-safe and masked."""
    values = {k: json_safe(_loaded(obj, k)) for k in _column_keys(obj)}
    values.update(_reassigned_keys(obj))
    return _finish(obj, values)


def _reassigned_keys(obj: Any) -> dict[str, Any]:
    """Foreign keys about to change because a relationship was reassigned (screens set ``person.org_unit``).

    The column itself is only updated by the flush, so its history does not show the change yet.
    """
    state, mapper = inspect(obj), inspect(obj).mapper
    out: dict[str, Any] = {}
    for rel in mapper.relationships:
        if rel.direction is not MANYTOONE or rel.key not in state.dict:
            continue
        hist = state.attrs[rel.key].history
        if not hist.added and not hist.deleted:
            continue
        target = hist.added[0] if hist.added else None
        for local, remote in rel.local_remote_pairs:
            key = mapper.get_property_by_column(local).key
            if key not in SKIPPED_COLUMNS:
                out[key] = json_safe(getattr(target, remote.key, None) if target is not None else None)
    return out


def committed_snapshot(obj: Any) -> dict[str, Any]:
    """The row as it was loaded from the database (before this flush's changes)."""
    state = inspect(obj)
    values = {}
    for key in _column_keys(obj):
        hist = state.attrs[key].history
        old = hist.deleted[0] if hist.deleted else (hist.unchanged[0] if hist.unchanged else _loaded(obj, key))
        values[key] = json_safe(old)
    return _finish(obj, values)


def _diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    keys = [k for k in after if before.get(k) != after.get(k)]
    keys += [k for k in before if k not in after]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


def _row_id(obj: Any) -> int:
    return int(inspect(obj).mapper.primary_key_from_instance(obj)[0])


def _event_row(obj: Any, action: str, before: dict[str, Any] | None, after: dict[str, Any] | None,
               row_id: int | None = None) -> dict[str, Any]:
    scope = current_scope()
    return {"tenant_id": obj.tenant_id, "entity": entity_of(obj)[:64],
            "row_id": row_id if row_id is not None else _row_id(obj), "action": action,
            "user_id": scope.user_id if scope else None, "at": _now(), "before": before, "after": after,
            "source": current_source()[:64]}


def _now() -> dt.datetime:
    return clock.utcnow_naive()


def _before_flush(session: Session, flush_context: Any, instances: Any) -> None:
    """Take the old values of updated and deleted rows (gone after the flush); bump row versions."""
    pending: list[Any] = []
    session.info[PENDING_KEY] = pending
    bumped: set[tuple[str, int]] = session.info.setdefault(BUMPED_KEY, set())
    with session.no_autoflush:
        for obj in list(session.dirty):
            if not is_audited(obj) or not session.is_modified(obj):
                continue
            before, after = _diff(committed_snapshot(obj), full_snapshot(obj))
            key = (entity_of(obj), _row_id(obj))
            if is_versioned(obj) and key not in bumped:  # one new version per transaction, however many flushes
                version_before, version_after = bump_row_version(session, obj, theirs=committed_snapshot(obj),
                                                                 mine=after)
                before["row_version"], after["row_version"] = version_before, version_after
                bumped.add(key)
            if after:
                pending.append(_event_row(obj, "update", before, after))
        for obj in list(session.deleted):
            if is_audited(obj):
                pending.append(_event_row(obj, "delete", committed_snapshot(obj), None))
        pending.extend(obj for obj in session.new if is_audited(obj))


def _after_flush(session: Session, flush_context: Any) -> None:
    """New rows have their primary keys now; keep the flush's events for the commit."""
    pending = session.info.pop(PENDING_KEY, [])
    rows = [p if isinstance(p, dict) else _event_row(p, "create", None, full_snapshot(p)) for p in pending]
    session.info.setdefault(TXN_KEY, []).extend(rows)


def _before_commit(session: Session) -> None:
    """Write the transaction's events in one statement, one event per row and action.

    A save often flushes more than once (a query in a hook autoflushes half of it); the events of
    one transaction are merged so that one edit is one event, as the clerk sees it.
    """
    session.flush()
    rows = merge_events(session.info.pop(TXN_KEY, []))
    if rows:
        session.connection().execute(AuditEvent.__table__.insert(), rows)


def _forget(session: Session, *args: Any) -> None:
    for key in (PENDING_KEY, TXN_KEY, BUMPED_KEY):
        session.info.pop(key, None)


def merge_events(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fold later updates of a row into its earlier create/update of the same transaction."""
    out: list[dict[str, Any]] = []
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        key = (row["tenant_id"], row["entity"], row["row_id"])
        prev = latest.get(key)
        if row["action"] == "update" and prev is not None and prev["action"] in ("create", "update"):
            if prev["action"] == "create":
                prev["after"] = {**prev["after"], **row["after"]}
            else:
                before = {**row["before"], **prev["before"]}  # the earliest old value wins
                after = {**prev["after"], **row["after"]}  # the latest new value wins
                keys = [k for k in after if before.get(k) != after.get(k)]
                prev["before"], prev["after"] = {k: before.get(k) for k in keys}, {k: after[k] for k in keys}
            continue
        out.append(row)
        latest[key] = row
    return [r for r in out if r["action"] != "update" or r["after"]]


def record_summary(conn: Connection, tenant_id: int, entity: str, row_id: int, action: str,
                   after: dict[str, Any], source: str | None = None) -> None:
    """One event for a bulk Core write (a tenant load, a recompute) that the flush never sees."""
    scope = current_scope()
    conn.execute(AuditEvent.__table__.insert().values(
        tenant_id=tenant_id, entity=entity, row_id=row_id, action=action,
        user_id=scope.user_id if scope else None, at=_now(), before=None, after=json_safe(after),
        source=(_source.get() or source or current_source())[:64]))


def record_bulk_updates(conn: Connection, tenant_id: int, entity: str,
                        changes: list[tuple[int, dict[str, Any], dict[str, Any]]], source: str | None = None) -> None:
    """One ``update`` event per row of a bulk Core UPDATE, ``(row id, old values, new values)`` of the changed
    columns, written in one statement (ID numbers masked as in every event)."""
    if not changes:
        return
    scope = current_scope()
    user_id, at = (scope.user_id if scope else None), _now()
    label = (_source.get() or source or current_source())[:64]

    def masked(values: dict[str, Any]) -> Any:
        out = dict(values)
        for key in MASKED_KEYS:
            if out.get(key):
                out[key] = mask_id_number(out[key])
        return json_safe(out)

    conn.execute(AuditEvent.__table__.insert(), [
        {"tenant_id": tenant_id, "entity": entity[:64], "row_id": row_id, "action": "update", "user_id": user_id,
         "at": at, "before": masked(before), "after": masked(after), "source": label}
        for row_id, before, after in changes])


def history(entity: str, row_id: int) -> list[AuditEvent]:
    """A record's events, oldest first (tenant-scoped like every ORM read).

    A primary key can be used again after its row was deleted (SQLite reuses the highest id), so
    the history of a row starts after the last earlier ``delete`` of that id.
    """
    from app.extensions import db

    stmt = select(AuditEvent).where(AuditEvent.entity == entity, AuditEvent.row_id == row_id) \
        .order_by(AuditEvent.id)
    events = list(db.session.scalars(stmt))
    deletes = [i for i, e in enumerate(events[:-1]) if e.action == "delete"]
    return events[deletes[-1] + 1:] if deletes else events


_installed = False


def install() -> None:
    """Attach the capture to every Session (idempotent); runs after the tenant guard."""
    global _installed
    if _installed:
        return
    event.listen(Session, "before_flush", _before_flush)
    event.listen(Session, "after_flush", _after_flush)
    event.listen(Session, "before_commit", _before_commit)
    for name in ("after_commit", "after_rollback"):
        event.listen(Session, name, _forget)
    _installed = True


def record_new_version(session: Session, obj: Any, *, entity: str, old_version: int | None,
                       source: str = "designer") -> None:
    """One event for a definition saved as a new version (a designer's save): who, when, code, old → new version.

    Why not the flush's own event: a version row is recorded there as a full copy of the
    definition, unreadable in the log, and a row written with Core (the workflow versions) is not
    seen at all. This event takes the place of the flush's event for the same row in this
    transaction and is written at commit with the others (nothing if the save is rolled back).
    ``obj``: the new version's row (``id``, ``tenant_id``, ``code``, ``name``, ``version``).
    """
    scope = current_scope()
    tenant_id = obj.tenant_id if obj.tenant_id is not None else (scope.tenant_id if scope else None)
    row_id = int(obj.id)
    rows = [r for r in session.info.get(TXN_KEY, [])
            if (r["tenant_id"], r["entity"], r["row_id"]) != (tenant_id, entity, row_id)]
    rows.append({"tenant_id": tenant_id, "entity": entity[:64], "row_id": row_id,
                 "action": "create" if old_version is None else "update",
                 "user_id": scope.user_id if scope else None, "at": _now(),
                 "before": None if old_version is None else {"code": obj.code, "version": old_version},
                 "after": {"code": obj.code, "name": obj.name, "version": obj.version},
                 "source": (_source.get() or source)[:64]})
    session.info[TXN_KEY] = rows

"""Optimistic locking: an edit made from a stale copy of a row is refused, never merged silently.

Two clerks open the same record; the first saves; the second's form still carries the old
``row_version``, so their save raises :class:`EditConflict` carrying both versions, and the
screen shows them side by side instead of overwriting the colleague's work.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from app.core.errors import CountyDeskError

VERSION_KEY = "row_version"
"""The column a model declares to take part in optimistic locking (``Integer``, default 1)."""
VERSION_MISSING_KEY = "countydesk_row_version_missing"
"""``session.info`` flag: the editor sent no ``row_version`` (an API PUT without it)."""


class RowVersionMissing(CountyDeskError):
    status = 422

    def __init__(self) -> None:
        super().__init__("缺少 row_version：请先读取该记录（GET），修改时原样带上其 row_version，"
                         "以免覆盖他人的修改")


class EditConflict(CountyDeskError):
    status = 409

    def __init__(self, *, current_version: int, submitted_version: int | None,
                 theirs: dict[str, Any] | None = None, mine: dict[str, Any] | None = None):
        super().__init__(f"保存冲突：这条记录在您打开后已被他人修改（当前版本 {current_version}，"
                         f"您编辑的是版本 {submitted_version}），您的修改未保存。请对照两份内容后重新编辑。")
        self.current_version = current_version
        self.submitted_version = submitted_version
        self.theirs = theirs or {}
        self.mine = mine or {}


def check_row_version(current_version: int, submitted: Any, *, theirs: dict[str, Any] | None = None,
                      mine: dict[str, Any] | None = None) -> None:
    """Refuse the save unless the editor started from the row's current version."""
    try:
        submitted_version = int(submitted)
    except (TypeError, ValueError):
        submitted_version = None
    if submitted_version != current_version:
        raise EditConflict(current_version=current_version, submitted_version=submitted_version,
                           theirs=theirs, mine=mine)


def is_versioned(obj_or_class: Any) -> bool:
    """Models with a ``row_version`` column are locked optimistically (core entities, form records)."""
    mapper = inspect(obj_or_class) if isinstance(obj_or_class, type) else inspect(obj_or_class).mapper
    return VERSION_KEY in mapper.column_attrs


def bump_row_version(session: Session, obj: Any, *, theirs: dict[str, Any] | None = None,
                     mine: dict[str, Any] | None = None) -> tuple[int, int]:
    """Called at flush for an updated row: refuse a stale edit, else move the version on by one.

    An editor that set ``row_version`` (the screen's hidden field, the API body) to something
    other than the version loaded from the database edited a stale copy. The version is then
    advanced with a compare-and-set ``UPDATE … WHERE row_version = :loaded``, so two requests
    that both loaded version 3 cannot both save: the second finds no row to update.
    Returns (old version, new version).
    """
    hist = inspect(obj).attrs[VERSION_KEY].history
    if hist.deleted:
        loaded = hist.deleted[0]
    elif hist.unchanged:
        loaded = hist.unchanged[0]
    else:
        loaded = getattr(obj, VERSION_KEY)
    if session.info.get(VERSION_MISSING_KEY) and not (hist.added and hist.deleted):
        raise RowVersionMissing()
    if hist.added and hist.deleted:
        check_row_version(loaded, hist.added[0], theirs=theirs, mine=mine)
    loaded = int(loaded or 1)
    mapper = inspect(obj).mapper
    table, pk_col = mapper.local_table, mapper.primary_key[0]
    pk = mapper.primary_key_from_instance(obj)[0]
    result = session.connection().execute(
        table.update().where(pk_col == pk, table.c[VERSION_KEY] == loaded).values({VERSION_KEY: loaded + 1}))
    if result.rowcount == 0:  # type: ignore[attr-defined]
        current = session.connection().execute(
            table.select().with_only_columns(table.c[VERSION_KEY]).where(pk_col == pk)).scalar()
        raise EditConflict(current_version=int(current or 0), submitted_version=loaded, theirs=theirs, mine=mine)
    setattr(obj, VERSION_KEY, loaded + 1)
    return loaded, loaded + 1


class DeleteConflict(EditConflict):
    """A delete of a row someone changed since the clerk saw it: refused, the row stays."""

    def __init__(self, *, current_version: int, submitted_version: int | None,
                 theirs: dict[str, Any] | None = None):
        super().__init__(current_version=current_version, submitted_version=submitted_version, theirs=theirs)
        self.message = (f"删除冲突：这条记录在您打开后已被他人修改（当前版本 {current_version}，"
                        f"您看到的是版本 {submitted_version}），未删除。请查看最新内容后再决定是否删除。")
        self.args = (self.message,)


class RowVersionInvalid(CountyDeskError):
    status = 422

    def __init__(self) -> None:
        super().__init__("row_version 应为整数（读取记录时得到的版本号）")


def parse_version(submitted: Any) -> int | None:
    """The submitted version as an int; None when absent; :class:`RowVersionInvalid` when not a number."""
    if submitted is None or submitted == "":
        return None
    try:
        return int(submitted)
    except (TypeError, ValueError):
        raise RowVersionInvalid() from None


def claim_for_delete(session: Session, obj: Any, submitted: int | None,
                     theirs: dict[str, Any] | None = None) -> None:
    """Refuse deleting ``obj`` unless the deleter saw its current version; then hold the row.

    Why a compare-and-set and not only a comparison: between the check and the DELETE a colleague
    could save. ``UPDATE … SET row_version = row_version WHERE row_version = :seen`` both checks and
    locks the row (PostgreSQL keeps the lock to the commit), so a concurrent save then fails its own
    compare-and-set instead of being deleted unseen.
    """
    mapper = inspect(obj).mapper
    table, pk_col = mapper.local_table, mapper.primary_key[0]
    pk = mapper.primary_key_from_instance(obj)[0]
    version_col = table.c[VERSION_KEY]
    result = session.connection().execute(
        table.update().where(pk_col == pk, version_col == submitted).values({VERSION_KEY: version_col}))
    if result.rowcount == 0:  # type: ignore[attr-defined]
        current = session.connection().execute(
            table.select().with_only_columns(version_col).where(pk_col == pk)).scalar()
        raise DeleteConflict(current_version=int(current or 0), submitted_version=submitted, theirs=theirs)


def advisory_xact_lock(session: Session, namespace: int, key_text: str) -> None:
    """Serialise a check-then-write over a *set* of rows until the transaction ends (PostgreSQL).

    Row locks cannot guard a count or a ranking over rows that may not exist yet (a round's
    candidates, a year's results), so such writers take a transaction-level advisory lock keyed by
    what they count: the second waits until the first commits, then reads again. SQLite allows one
    writer at a time, so there is nothing to do there.
    """
    import zlib

    import sqlalchemy as sa

    if session.get_bind().dialect.name != "postgresql":
        return
    key = zlib.crc32(key_text.encode())
    session.execute(sa.text("SELECT pg_advisory_xact_lock(:ns, :key)"),
                    {"ns": namespace, "key": key - 2**32 if key >= 2**31 else key})

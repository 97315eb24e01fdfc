"""Optimistic locking: an edit made from a stale copy of a row is refused, never merged silently.

Two clerks open the same record; the first saves; the second's form still carries the old
``row_version``, so their save raises :class:`EditConflict` carrying both versions, and the
screen shows them side by side instead of overwriting the colleague's work.
"""

from __future__ import annotations

from typing import Any

from app.core.errors import CountyDeskError


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

"""Keeps ``OrgUnit.path`` right and the tree sane when units are added or moved through the ORM.

Bulk loads set paths themselves; this covers the screens and the API.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, func, inspect, update
from sqlalchemy.orm import Session

from app.core.errors import CountyDeskError
from app.orgs.models import ORG_LEVELS, OrgUnit, compute_path


class OrgTreeError(CountyDeskError):
    status = 422


def _check_parent(unit: OrgUnit) -> None:
    if unit.level not in ORG_LEVELS:
        raise OrgTreeError(f"层级「{unit.level}」无效，应为 {'、'.join(ORG_LEVELS)} 之一")
    parent = unit.parent
    if parent is None:
        if unit.level != "county":
            raise OrgTreeError("只有县级单位可以没有上级")
        return
    if ORG_LEVELS.index(parent.level) + 1 != ORG_LEVELS.index(unit.level):
        raise OrgTreeError(f"上级「{parent.name}」的层级与「{unit.name}」不相邻")
    if unit.path and parent.path.startswith(unit.path):
        raise OrgTreeError(f"「{unit.name}」不能挂在自己的下级之下（形成环）")


def _maintain_paths(session: Session, flush_context: Any, instances: Any) -> None:
    with session.no_autoflush:
        for obj in list(session.new):
            if isinstance(obj, OrgUnit):
                if obj.parent is None and obj.parent_id is not None:
                    obj.parent = session.get(OrgUnit, obj.parent_id)
                _check_parent(obj)
                obj.path = compute_path(obj)
        for obj in list(session.dirty):
            if not isinstance(obj, OrgUnit):
                continue
            state: Any = inspect(obj)
            moved = state.attrs.parent_id.history.has_changes() or state.attrs.parent.history.has_changes()
            renamed = state.attrs.code.history.has_changes()
            if state.attrs.level.history.has_changes() or moved:
                _check_parent(obj)
            if moved or renamed:
                old_path = obj.path
                obj.path = compute_path(obj)
                if old_path and old_path != obj.path:
                    session.execute(
                        update(OrgUnit)
                        .where(OrgUnit.path.startswith(old_path), OrgUnit.id != obj.id)
                        .values(path=func.replace(OrgUnit.path, old_path, obj.path))
                        .execution_options(synchronize_session=False)
                    )


def install() -> None:
    if not event.contains(Session, "before_flush", _maintain_paths):
        event.listen(Session, "before_flush", _maintain_paths)

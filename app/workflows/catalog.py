"""Stored workflow definitions: the latest or a given version, parsed once.

A stored version never changes, so its parsed form is cached per tenant; counties that share
the same process text share one parsed definition.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.errors import NotFound
from app.core.tenancy import current_tenant_id
from app.extensions import db
from app.workflows.definition import Definition, parse_definition
from app.workflows.models import WorkflowDefinition

_CACHE: dict[tuple[int, str, int], Definition] = {}
_PARSED: dict[str, Definition] = {}


def load_definition(code: str, version: int | None = None, session: Session | None = None) -> Definition:
    """A stored version (immutable, so cached per tenant), or the latest one."""
    session = session or db.session
    tenant_id = current_tenant_id()
    stmt = select(WorkflowDefinition).where(WorkflowDefinition.code == code)
    if version is not None:
        key = (tenant_id or 0, code, version)
        if key in _CACHE:
            return _CACHE[key]
        stmt = stmt.where(WorkflowDefinition.version == version)
    row = session.scalars(stmt.order_by(WorkflowDefinition.version.desc()).limit(1)).first()
    if row is None:
        raise NotFound(f"没有流程「{code}」" + (f"的第 {version} 版" if version else ""))
    text = json.dumps(row.spec, sort_keys=True, ensure_ascii=False)
    definition = _PARSED.get(text)
    if definition is None:  # counties sharing a process text parse it once
        definition = _PARSED[text] = parse_definition(row.spec, functions=_functions())
    _CACHE[(tenant_id or 0, code, row.version)] = definition
    return definition


def definition_version(code: str, session: Session | None = None) -> int:
    session = session or db.session
    version = session.scalar(select(func.max(WorkflowDefinition.version)).where(WorkflowDefinition.code == code))
    if version is None:
        raise NotFound(f"没有流程「{code}」")
    return int(version)


def _functions() -> Any:
    from app.hooks.formulas import formula_registry

    return formula_registry()

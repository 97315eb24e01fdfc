"""Tenant and org-unit scoping in the data layer.

Every ORM SELECT/UPDATE/DELETE on a ``TenantScoped`` class gets ``tenant_id = :current``
through ``with_loader_criteria``; every flush stamps new rows and refuses writes outside
the current tenant, outside the user's capture scope, or by a read-only user. With no
tenant in context nothing scoped is visible (fail closed). Reading across tenants is an
explicit execution option, ``all_tenants=True``, logged by ``read_across_tenants``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.orm.interfaces import MANYTOONE

from app.core.errors import CountyDeskError, ScopeDenied
from app.core.models import TenantScoped

audit_log = logging.getLogger("countydesk.audit")


class InvalidReference(CountyDeskError):
    status = 422


NO_CAPTURE_UNIT = "~no-capture-unit~"
"""``capture_path`` of a user whose role needs an org unit it does not have (none set, or gone).

Valid text that no org path can start with (every path begins with ``/``): such a user reads
nothing scoped and may not write at all.
"""
PLATFORM_ADMIN = "platform_admin"
"""``Scope.roles`` code of the platform's own administrator (FAB's ``Admin``)."""
COUNTY_WIDE_ROLES = frozenset({"county_admin", PLATFORM_ADMIN})
"""Role codes (``Scope.roles``) that act for the whole county, locked periods included."""


@dataclass(frozen=True)
class Scope:
    """Who is acting and where: set per request, per CLI command and per job.

    A job carries the whole scope of the user who started it (``as_dict``/``from_dict``), so it
    may do exactly what that user's request could, no more.
    """

    tenant_id: int | None
    user_id: int | None = None
    capture_path: str | None = None
    """Org path prefix (``/350581/350581001/``) the user may write under; None = whole tenant."""
    read_only: bool = False
    roles: tuple[str, ...] = ()
    """Role codes of the user (``county_admin``, ``town_clerk`` …); empty for the system (CLI, scheduler)."""

    @property
    def has_capture_unit(self) -> bool:
        return self.capture_path != NO_CAPTURE_UNIT

    @property
    def county_wide_writer(self) -> bool:
        """May write anywhere in the county and in locked periods: a county or platform admin, or the
        system acting for the county (no user roles). Requests, jobs and imports all ask this."""
        if self.read_only or self.tenant_id is None or self.capture_path is not None:
            return False
        return not self.roles or not COUNTY_WIDE_ROLES.isdisjoint(self.roles)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scope:
        return cls(**{**data, "roles": tuple(data.get("roles") or ())})


_scope: ContextVar[Scope | None] = ContextVar("countydesk_scope", default=None)

OrgPathResolver = Callable[[Session, int], str | None]
_org_path_resolver: list[OrgPathResolver] = []


def current_scope() -> Scope | None:
    return _scope.get()


def current_tenant_id() -> int | None:
    scope = _scope.get()
    return scope.tenant_id if scope else None


def set_scope(scope: Scope | None) -> Any:
    """Set the scope; returns a token for ``reset_scope``."""
    return _scope.set(scope)


def reset_scope(token: Any) -> None:
    _scope.reset(token)


@contextlib.contextmanager
def tenant_context(tenant_id: int | None, **kwargs: Any) -> Iterator[Scope]:
    """Run a block (CLI command, test) as the given tenant."""
    scope = Scope(tenant_id=tenant_id, **kwargs)
    with scope_context(scope):
        yield scope


@contextlib.contextmanager
def scope_context(scope: Scope | None) -> Iterator[Scope | None]:
    """Run a block in exactly this scope (a job re-entering its starter's), row-level security included."""
    token = _scope.set(scope)
    _sync_open_transaction()
    try:
        yield scope
    finally:
        _scope.reset(token)
        _sync_open_transaction()


def _sync_open_transaction() -> None:
    """A scope change inside an open transaction must reach row-level security too."""
    from flask import has_app_context

    from app.extensions import db

    if has_app_context() and db.session().in_transaction():
        sync_db_tenant(db.session.connection())


def read_across_tenants(session: Session, statement: Any, reason: str) -> sa.Result[Any]:
    """The one audited way to read rows of several tenants (provincial screens)."""
    scope = _scope.get()
    audit_log.info("cross-tenant read by user %s: %s", scope.user_id if scope else None, reason)
    _set_db_setting(session.connection(), "countydesk.all_tenants", "on")
    try:
        return session.execute(statement, execution_options={"all_tenants": True})
    finally:
        _set_db_setting(session.connection(), "countydesk.all_tenants", "off")


def _set_db_setting(conn: sa.Connection, name: str, value: str) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT set_config(:name, :value, true)"), {"name": name, "value": value})


def sync_db_tenant(conn: sa.Connection, tenant_id: int | None = None) -> None:
    """Tell PostgreSQL's row-level security which tenant this transaction acts for.

    Called when a transaction begins and wherever the scope changes mid-transaction
    (after the request's user is known, inside the tenant loader).
    """
    if tenant_id is None:
        tenant_id = current_tenant_id()
    _set_db_setting(conn, "countydesk.tenant_id", "" if tenant_id is None else str(tenant_id))


def _after_begin(session: Session, transaction: Any, connection: sa.Connection) -> None:
    # The setting is transaction-local (``set_config(…, true)``), so a new transaction starts with
    # none, which the policies read as "no tenant": saying so again would cost a round trip on
    # every request, whose first query (loading the user) runs before its tenant is known.
    tenant_id = current_tenant_id()
    if tenant_id is not None:
        sync_db_tenant(connection, tenant_id)


def register_org_path_resolver(resolver: OrgPathResolver) -> None:
    """The org module tells the guard how to find an org unit's path (avoids an import cycle)."""
    _org_path_resolver[:] = [resolver]


def _add_tenant_criteria(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    # Relationship and column loads are scoped too, with the tenant current *now*;
    # criteria are not propagated from the parent query (which may predate the scope).
    if state.execution_options.get("all_tenants", False):
        return
    state.statement = state.statement.options(_tenant_criteria(current_tenant_id()))


@lru_cache(maxsize=4096)
def _tenant_criteria(tenant_id: int | None) -> Any:
    """The loader criteria of one tenant (or of none: no rows), built once per tenant.

    Why cached: building the option analyses its lambda, which was half the ORM's own work on a
    small query, on every statement of every request. The option is immutable and safe to share.
    """
    if tenant_id is None:
        return with_loader_criteria(TenantScoped, lambda cls: sa.false(), include_aliases=True,
                                    propagate_to_loaders=False)
    return with_loader_criteria(TenantScoped, lambda cls: cls.tenant_id == tenant_id, include_aliases=True,
                                propagate_to_loaders=False)


def _org_ids_touched(obj: Any, is_new: bool) -> list[int]:
    """Org units a write touches: where the row was and where it goes."""
    ids: list[int | None] = []
    if hasattr(obj, "scope_org_ids"):
        ids.extend(obj.scope_org_ids(is_new))
    elif obj.__scope_org_attr__:
        ids.extend(reference_ids(obj, obj.__scope_org_attr__))
    return list(dict.fromkeys(i for i in ids if i is not None))


def reference_ids(obj: Any, column_key: str) -> list[Any]:
    """Every id a many-to-one reference holds in this flush: the column now and before, and the
    relationship's new and old target.

    Why all of them: screens and the API set the relationship (``person.org_unit = unit``); until
    the flush writes it, the column still holds the old id, so checking the column alone lets a
    row be moved into another town. Checking the old place too keeps rows from being pulled in.
    """
    state = inspect(obj)
    ids: list[Any] = [getattr(obj, column_key), *(state.attrs[column_key].history.deleted or ())]
    for rel in state.mapper.relationships:
        pairs = [(local, remote) for local, remote in rel.local_remote_pairs if local.key == column_key]
        if rel.direction is not MANYTOONE or not pairs:
            continue
        remote_key = rel.mapper.get_property_by_column(pairs[0][1]).key
        hist = state.attrs[rel.key].history  # what is loaded or assigned; never a query per row
        targets = [*hist.added, *hist.unchanged, *hist.deleted]
        ids.extend(getattr(t, remote_key, None) for t in targets if t is not None)
    return ids


def _check_capture_scope(session: Session, obj: Any, scope: Scope, is_new: bool) -> None:
    if scope.capture_path is None or not _org_path_resolver:
        return
    if not scope.has_capture_unit:
        raise ScopeDenied("您的账号没有有效的所属辖区，只能查看；请联系县管理员设置辖区")
    org_ids = _org_ids_touched(obj, is_new)
    if not org_ids:  # county-wide rows (positions, a new root) are the county admin's
        raise ScopeDenied("只能录入本辖区的数据：该记录不属于任何组织机构")
    for org_id in org_ids:
        path = _org_path_resolver[0](session, org_id)
        if path is None or not path.startswith(scope.capture_path):
            raise ScopeDenied("无权修改辖区以外的数据")


def _check_references(obj: Any, tenant_id: int) -> None:
    """Many-to-one targets must belong to the same tenant (criteria hide other tenants' rows)."""
    mapper = inspect(obj).mapper
    for rel in mapper.relationships:
        if rel.direction is not MANYTOONE or not issubclass(rel.mapper.class_, TenantScoped):
            continue
        if all(getattr(obj, mapper.get_property_by_column(c).key) is None for c in rel.local_columns):
            continue
        target = getattr(obj, rel.key)
        if target is None or target.tenant_id != tenant_id:
            raise InvalidReference("引用的记录不存在或不属于本县")


def _guard_flush(session: Session, flush_context: Any, instances: Any) -> None:
    scope = _scope.get()
    with session.no_autoflush:
        for obj in list(session.new):
            if not isinstance(obj, TenantScoped):
                continue
            if inspect(obj).mapper.primary_key_from_instance(obj)[0] is not None:
                raise InvalidReference("引用的记录不存在或不属于本县")
            _check_write(session, obj, scope, is_new=True)
        for obj in list(session.dirty):
            if isinstance(obj, TenantScoped) and session.is_modified(obj):
                _check_write(session, obj, scope, is_new=False)
        for obj in list(session.deleted):
            if isinstance(obj, TenantScoped):
                _check_write(session, obj, scope, is_new=False)


def check_may_change(session: Session, obj: Any, is_new: bool = False) -> None:
    """The flush guard's verdict on writing ``obj``, asked early (a refusal must win over a 422, and
    screens show it in words rather than as a failed save)."""
    with session.no_autoflush:
        _check_write(session, obj, _scope.get(), is_new=is_new)


def _check_write(session: Session, obj: Any, scope: Scope | None, is_new: bool) -> None:
    if scope is None or scope.tenant_id is None:
        raise ScopeDenied("没有选定县（租户），不能写入数据")
    if scope.read_only:
        raise ScopeDenied("只读用户不能修改数据")
    if is_new and obj.tenant_id is None:
        obj.tenant_id = scope.tenant_id
    if obj.tenant_id != scope.tenant_id:
        raise ScopeDenied("无权修改其他县的数据")
    if not is_new:
        old = inspect(obj).attrs["tenant_id"].history.deleted
        if old and old[0] != scope.tenant_id:
            raise ScopeDenied("无权修改其他县的数据")
    _check_capture_scope(session, obj, scope, is_new)
    _check_references(obj, scope.tenant_id)


_installed = False


def install() -> None:
    """Attach the scoping events to every Session (idempotent)."""
    global _installed
    if _installed:
        return
    event.listen(Session, "do_orm_execute", _add_tenant_criteria)
    event.listen(Session, "before_flush", _guard_flush, insert=True)
    event.listen(Session, "after_begin", _after_begin)
    _installed = True

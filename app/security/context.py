"""Turns the logged-in user (session cookie or JWT) into the data-layer ``Scope`` of a request.

The user is read from what Flask-Login / JWT already loaded; the tenant is computed
before any tenant-scoped query runs, so scoping never recurses into loading the user.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import Flask, g, request, session
from flask_jwt_extended import get_current_user, verify_jwt_in_request
from flask_jwt_extended.exceptions import JWTExtendedException
from flask_login import current_user
from jwt import PyJWTError
from sqlalchemy import select

from app.core.models import Tenant
from app.core.tenancy import NO_CAPTURE_UNIT, PLATFORM_ADMIN, Scope, reset_scope, set_scope, sync_db_tenant
from app.extensions import db
from app.orgs.models import OrgUnit
from app.security.roles import ROLE_BY_NAME, RoleSpec

SESSION_TENANT_KEY = "countydesk_tenant_id"


def request_user() -> Any | None:
    if current_user and getattr(current_user, "is_authenticated", False):
        return current_user
    if request.headers.get("Authorization", "").startswith("Bearer "):
        try:
            verify_jwt_in_request(optional=True)
            return get_current_user()
        except (JWTExtendedException, PyJWTError):  # FAB answers 401; we only stay closed
            return None
    return None


def user_roles(user: Any) -> list[RoleSpec]:
    return [ROLE_BY_NAME[r.name] for r in user.roles if r.name in ROLE_BY_NAME]


def is_platform_admin(user: Any) -> bool:
    return any(r.name == "Admin" for r in user.roles)


def selectable_tenants(user: Any) -> list[Tenant]:
    """Tenants a user may switch to: its own, or every tenant of its region, or all (platform admin)."""
    tenants = db.session.scalars(select(Tenant).order_by(Tenant.region, Tenant.name)).all()
    if is_platform_admin(user):
        return list(tenants)
    if user.tenant_id is not None:
        return [t for t in tenants if t.id == user.tenant_id]
    return [t for t in tenants if t.in_region(user.region)]


def scope_for(user: Any, chosen_tenant_id: int | None) -> Scope | None:
    roles = user_roles(user)
    platform_admin = is_platform_admin(user)
    if user.tenant_id is not None:
        tenant_id: int | None = user.tenant_id
    else:
        allowed = {t.id for t in selectable_tenants(user)}
        tenant_id = chosen_tenant_id if chosen_tenant_id in allowed else min(allowed, default=None)
    read_only = not platform_admin and (not roles or all(r.read_only for r in roles))
    codes = tuple(sorted({r.code for r in roles} | ({PLATFORM_ADMIN} if platform_admin else set())))
    scope = Scope(tenant_id=tenant_id, user_id=user.id, read_only=read_only, roles=codes)
    if roles and all(r.scope_level for r in roles) and not platform_admin:
        token = set_scope(scope)
        try:
            sync_db_tenant(db.session.connection())
            path = None
            if user.scope_org_id is not None:
                path = db.session.scalar(select(OrgUnit.path).where(OrgUnit.id == user.scope_org_id))
        finally:
            reset_scope(token)
        # A clerk without a valid org scope may read but never write.
        scope = replace(scope, capture_path=path or NO_CAPTURE_UNIT)
    return scope


def _before_request() -> None:
    user = request_user()
    scope = scope_for(user, session.get(SESSION_TENANT_KEY)) if user is not None else None
    g.countydesk_scope_token = set_scope(scope)
    if db.session().in_transaction():  # the user was loaded before the scope was known
        sync_db_tenant(db.session.connection())


def _teardown(exc: BaseException | None) -> None:
    token = g.pop("countydesk_scope_token", None)
    if token is not None:
        try:
            reset_scope(token)
        except ValueError:  # torn down in another context: just clear
            set_scope(None)


def install(app: Flask) -> None:
    app.before_request(_before_request)
    app.teardown_request(_teardown)

"""Landing page (tenant, org scope and what the user can do) and the tenant switcher."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flask import abort, g, redirect, request, session, url_for
from flask_appbuilder import BaseView, IndexView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext
from flask_login import current_user

from app.core.models import Tenant
from app.core.registry import VIEW_SPECS
from app.core.tenancy import current_scope
from app.extensions import db, get_appbuilder
from app.security.context import SESSION_TENANT_KEY, is_platform_admin, selectable_tenants, user_roles


def landing_facts(user: Any) -> dict[str, Any]:
    """What the landing page shows, computed without HTTP so it can be tested directly."""
    scope = current_scope()
    tenant = db.session.get(Tenant, scope.tenant_id) if scope and scope.tenant_id else None
    roles = user_roles(user)
    sm = get_appbuilder().sm
    can_do = []
    for spec in VIEW_SPECS:
        if not spec.menu:
            continue
        name = spec.view.__name__
        if sm.has_access("can_list", name):
            can_write = sm.has_access("can_add", name) or sm.has_access("can_edit", name)
            can_do.append({"label": str(spec.label), "category": str(spec.category_label or ""),
                           "write": can_write, "endpoint": f"{name}.{getattr(spec.view, 'default_view', 'list')}"})
    scope_org = getattr(user, "scope_org", None)
    return {
        "user": user,
        "roles": [gettext(r.name) for r in roles] or ([gettext("平台管理员")] if is_platform_admin(user) else []),
        "tenant": tenant,
        "scope_org": scope_org,
        "read_only": bool(scope and scope.read_only),
        "tenants": selectable_tenants(user) if user.tenant_id is None else [],
        "can_do": can_do,
    }


class HomeView(IndexView):
    index_template = "countydesk/index.html"

    @expose("/")
    def index(self) -> Any:
        if not current_user.is_authenticated:
            return redirect(url_for(f"{get_appbuilder().sm.auth_view.__class__.__name__}.login"))
        return self.render_template(self.index_template, facts=landing_facts(g.user))


class TenantSwitchView(BaseView):
    """Provincial viewers and platform admins pick which county they look at."""

    route_base = "/tenant"
    default_view = "switch"

    @expose("/switch/<int:tenant_id>", methods=["POST"])
    @has_access
    def switch(self, tenant_id: int) -> Any:
        """POST (with the CSRF token): it changes what the session shows, so no link or image may trigger it."""
        if tenant_id not in {t.id for t in selectable_tenants(g.user)}:
            abort(404)
        session[SESSION_TENANT_KEY] = tenant_id
        return redirect(safe_next(request.referrer) or url_for("HomeView.index"))


def safe_next(url: str | None) -> str | None:
    """The path of ``url`` when it points into this site, else None: a Referer must not send the user elsewhere."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme or parts.netloc:
        if parts.scheme not in ("http", "https") or parts.netloc != request.host:
            return None
    path = parts.path
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return None
    return urlunsplit(("", "", path, parts.query, ""))

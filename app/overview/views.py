"""Provincial overview: every county of the viewer's region side by side (read-only)."""

from __future__ import annotations

from typing import Any

from flask import g
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import lazy_gettext as _

from app.core.registry import ViewSpec, declare_view
from app.overview.services import region_overview
from app.security.context import selectable_tenants


class ProvinceOverviewView(BaseView):
    route_base = "/overview"
    default_view = "list"

    @expose("/")
    @has_access
    def list(self) -> Any:
        tenants = selectable_tenants(g.user)
        rows = region_overview([t.id for t in tenants])
        return self.render_template("countydesk/overview.html", rows=rows)


declare_view(ViewSpec(ProvinceOverviewView, "ProvinceOverview", _("全省概览"), "Overview", _("概览"),
                      "fa-globe", readers=("province_viewer",)))

"""Platform-admin screen for tenants (not tenant-scoped: only the platform admin sees it)."""

from __future__ import annotations

from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import lazy_gettext as _

from app.core.models import Tenant
from app.core.registry import ViewSpec, declare_view
from app.core.views import TenantModelView


class TenantAdminView(TenantModelView):
    datamodel = SQLAInterface(Tenant)
    list_title = show_title = _("县（租户）")
    list_columns = ["slug", "name", "region", "locale"]
    show_columns = ["slug", "name", "region", "locale", "settings"]
    add_columns = edit_columns = ["slug", "name", "region", "locale"]
    label_columns = {"slug": _("标识"), "name": _("名称"), "region": _("所属地区"), "locale": _("语言")}


declare_view(ViewSpec(TenantAdminView, "Tenants", _("县（租户）"), "Platform", _("平台管理"), "fa-building",
                      readers=(), writers=()))

"""Record history screens (audit trail), declarations only.

The 操作日志 screen and ``/api/v1/audit_event/`` are read-only for everyone (no write routes
at all: history is never overwritten) and readable by the county admin only; rows are
tenant-scoped by the data layer like every other table. Each record's own history also
appears on its show page (``app.core.views.TenantModelView``).
"""

from __future__ import annotations

from flask_appbuilder.models.sqla.filters import FilterEqualFunction
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import lazy_gettext as _

from app.core.audit_models import AuditEvent
from app.core.registry import ViewSpec, declare_view
from app.core.tenancy import current_tenant_id
from app.core.views import TenantModelApi, TenantModelView

AUDIT_LABELS = {"at": _("时间（UTC）"), "entity": _("对象"), "row_id": _("记录号"), "action": _("操作"),
                "action_label": _("操作"), "user": _("操作人"), "source": _("来源"), "before": _("修改前"),
                "after": _("修改后")}
READ_ONLY_VIEW = ["can_list", "can_show"]
READ_ONLY_API = ["can_get", "can_info"]


class AuditEventView(TenantModelView):
    datamodel = SQLAInterface(AuditEvent)
    base_permissions = READ_ONLY_VIEW
    list_title = show_title = _("操作日志")
    list_columns = ["at", "user", "action_label", "entity", "row_id", "source"]
    show_columns = ["at", "user", "action_label", "entity", "row_id", "source", "before", "after"]
    search_columns = ["entity", "user", "at", "action", "row_id", "source"]
    # Only this county's users in the 操作人 filter (user accounts are not tenant-scoped rows).
    search_form_query_rel_fields = {"user": [["tenant_id", FilterEqualFunction, current_tenant_id]]}
    label_columns = AUDIT_LABELS
    base_order = ("id", "desc")
    show_template = "appbuilder/general/model/show.html"


class AuditEventApi(TenantModelApi):
    resource_name = "audit_event"
    datamodel = SQLAInterface(AuditEvent)
    base_permissions = READ_ONLY_API
    include_route_methods = {"get", "get_list", "info"}
    list_columns = show_columns = ["id", "at", "user.id", "user.username", "action", "entity", "row_id", "source",
                                   "before", "after"]
    search_columns = ["entity", "row_id", "action", "user", "at", "source"]
    base_order = ("id", "desc")


declare_view(ViewSpec(AuditEventView, "AuditEvents", _("操作日志"), "Audit", _("审计"), "fa-history",
                      writers=(), readers=("county_admin",)))
declare_view(ViewSpec(AuditEventApi, "AuditEventApi", menu=False, writers=(), readers=("county_admin",)))

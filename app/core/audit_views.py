"""Record history screens (audit trail), declarations only.

The 操作日志 screen and ``/api/v1/audit_event/`` are read-only for everyone (no write routes
at all: history is never overwritten) and readable by the county admin only; rows are
tenant-scoped by the data layer like every other table. Each record's own history also
appears on its show page (``app.core.views.TenantModelView``).
"""

from __future__ import annotations

from typing import Any

from flask_appbuilder.models.sqla.filters import FilterEqualFunction
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import gettext
from flask_babel import lazy_gettext as _

from app.core.audit_display import model_for_table, record_label, shown
from app.core.audit_models import AuditEvent
from app.core.registry import ViewSpec, declare_view
from app.core.tenancy import current_tenant_id
from app.core.views import TenantModelApi, TenantModelView
from app.extensions import get_appbuilder

AUDIT_LABELS = {"at": _("时间（UTC）"), "entity": _("对象"), "row_id": _("记录号"), "action": _("操作"),
                "action_label": _("操作"), "user": _("操作人"), "source": _("来源"), "before": _("修改前"),
                "after": _("修改后")}
READ_ONLY_VIEW = ["can_list", "can_show", "can_download"]  # download: 导出 Excel
READ_ONLY_API = ["can_get", "can_info"]


def entity_view(entity: str) -> TenantModelView | None:
    """The screen of an audited entity (its labels and custom fields describe the entity's events)."""
    for view in get_appbuilder().baseviews:
        if (isinstance(view, TenantModelView) and not isinstance(view, AuditEventView)
                and getattr(view.datamodel.obj, "__tablename__", None) == entity):
            return view
    return None


DEFINITION_LABELS = {"form_definition": _("表单定义"), "custom_field_definition": _("自定义字段定义"),
                     "workflow_definition": _("流程定义")}
"""Entities saved by the designers, which have no list screen of their own to take a title from."""


def entity_label(entity: Any) -> str:
    """``person`` → 人员, ``form:rkjs`` → 表单「rkjs」: what the 对象 column shows."""
    text = str(entity or "")
    if text.startswith("form:"):
        return gettext("表单「%(code)s」", code=text.removeprefix("form:"))
    if text in DEFINITION_LABELS:
        return str(DEFINITION_LABELS[text])
    view = entity_view(text)
    return str(view.list_title) if view is not None and view.list_title else text


class AuditEventView(TenantModelView):
    datamodel = SQLAInterface(AuditEvent)
    base_permissions = READ_ONLY_VIEW
    list_title = show_title = _("操作日志")
    list_columns = ["at", "user", "action_label", "entity", "row_id", "source"]
    show_columns = ["at", "user", "action_label", "entity", "row_id", "source"]
    search_columns = ["entity", "user", "at", "action", "row_id", "source"]
    # Only this county's users in the 操作人 filter (user accounts are not tenant-scoped rows).
    search_form_query_rel_fields = {"user": [["tenant_id", FilterEqualFunction, current_tenant_id]]}
    label_columns = AUDIT_LABELS
    formatters_columns = {"entity": entity_label}
    base_order = ("id", "desc")
    show_template = "countydesk/audit_show.html"

    def _show(self, pk: Any) -> Any:
        """The event with its changes as the record's own screen labels them (names, not ids)."""
        widgets = super()._show(pk)
        event = self.datamodel.get(pk, self._base_filters)
        if event is not None:
            widgets["event"] = describe_event(event)
        return widgets


def describe_event(event: AuditEvent) -> dict[str, Any]:
    """The record's label (or its id marked deleted) and one row per changed field."""
    view = entity_view(event.entity)
    if view is not None:
        changes = view.describe_events([event])[0]["changes"]
        label = record_label(model_for_table(event.entity), event.row_id)
    else:
        before, after = event.before or {}, event.after or {}
        keys = list(after) if event.action != "delete" else list(before)
        changes = [{"label": k, "before": shown(before.get(k)), "after": shown(after.get(k))} for k in keys]
        label = None
    if label is None:
        label = f"{event.row_id}{gettext('（已删除）')}" if event.action == "delete" or view is not None \
            else str(event.row_id)
    return {"record": label, "entity": entity_label(event.entity), "changes": changes}


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

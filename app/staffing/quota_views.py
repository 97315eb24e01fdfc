"""Read-only screen and API of computed staffing quotas (declarations only).

Read-only because every figure is the output of a recompute: correcting one would make it
disagree with its rule version and inputs. Only ``list``/``show`` (screen) and
``get``/``get_list``/``info`` (API) routes exist, so no role can be granted a write.
"""

from __future__ import annotations

from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import lazy_gettext as _

from app.core.registry import ViewSpec, declare_view
from app.core.views import TenantModelApi, TenantModelView
from app.staffing.quota_models import StaffingQuota, format_count
from app.staffing.views import STAFF, STAFF_LABEL

QUOTA_LABELS = {"org_unit": _("组织机构"), "position": _("岗位"), "period": _("期间"), "quota": _("定额"),
                "staffed": _("在岗人数"), "vacant": _("空缺"), "over": _("超编"), "rule_version": _("规则版本"),
                "rule_formula": _("定额公式"), "rule_effective_from": _("规则生效日期"),
                "inputs_text": _("计算依据"), "computed_at": _("计算时间")}
COUNT_COLUMNS = ("quota", "vacant", "over")


class StaffingQuotaView(TenantModelView):
    datamodel = SQLAInterface(StaffingQuota)
    include_route_methods = {"list", "show"}
    list_title = show_title = _("编制定额")
    list_columns = ["org_unit", "position", "period", "quota", "staffed", "vacant", "over", "rule_version"]
    show_columns = ["org_unit", "position", "period", "quota", "staffed", "vacant", "over", "rule_version",
                    "rule_formula", "rule_effective_from", "inputs_text", "computed_at"]
    search_columns = ["period", "position", "org_unit"]
    label_columns = QUOTA_LABELS
    formatters_columns = dict.fromkeys(COUNT_COLUMNS, format_count)
    base_order = ("period", "desc")


class StaffingQuotaApi(TenantModelApi):
    resource_name = "staffing_quota"
    datamodel = SQLAInterface(StaffingQuota)
    include_route_methods = {"get", "get_list", "info"}
    list_columns = ["id", "org_unit.id", "org_unit.code", "org_unit.name", "position.code", "position.name",
                    "period", "quota", "staffed", "vacant", "over", "rule.version"]
    show_columns = [*list_columns, "rule.formula", "rule.effective_from", "inputs", "computed_at"]
    search_columns = ["period", "position", "org_unit"]
    order_columns = ["period", "quota", "staffed", "vacant", "over"]


declare_view(ViewSpec(StaffingQuotaView, "StaffingQuotas", _("编制定额"), STAFF, STAFF_LABEL, "fa-calculator",
                      writers=()))
declare_view(ViewSpec(StaffingQuotaApi, "StaffingQuotaApi", menu=False, writers=()))

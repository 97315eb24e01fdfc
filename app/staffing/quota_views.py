"""Read-only screen and API of computed staffing quotas (declarations only).

Read-only because every figure is the output of a recompute: correcting one would make it
disagree with its rule version and inputs. Only ``list``/``show`` (screen) and
``get``/``get_list``/``info`` (API) routes exist, so no role can be granted a write. The
screen adds reading routes under the read permissions (drill-down under ``list``, the xlsx
export under ``download``); starting a recompute is a separate view that only county admins
may use.
"""

from __future__ import annotations

import io
import re
from typing import Any

from flask import abort, g, redirect, request, send_file
from flask_appbuilder import BaseView, expose
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_appbuilder.urltools import get_filter_args
from flask_babel import gettext
from flask_babel import lazy_gettext as _
from markupsafe import Markup, escape
from sqlalchemy import select

from app.core.registry import ViewSpec, declare_view
from app.core.tenancy import current_scope
from app.core.text_rules import period_regex
from app.core.views import TenantModelApi, TenantModelView
from app.extensions import db
from app.orgs.models import OrgUnit
from app.staffing import auto_recompute
from app.staffing.quota_models import StaffingQuota, format_count
from app.staffing.quota_service import drill_down, export_rows, write_quota_xlsx
from app.staffing.views import STAFF, STAFF_LABEL

QUOTA_LABELS = {"org_unit": _("组织机构"), "position": _("岗位"), "period": _("期间"), "quota": _("定额"),
                "staffed": _("在岗人数"), "vacant": _("空缺"), "over": _("超编"), "rule_version": _("规则版本"),
                "rule_formula": _("定额公式"), "rule_effective_from": _("规则生效日期"),
                "inputs_text": _("计算依据"), "computed_at": _("计算时间"), "id": _("下级明细")}
COUNT_COLUMNS = ("quota", "vacant", "over")
PERIOD_PATTERN = period_regex("yearly", "monthly")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _drill_link(pk: int) -> Markup:
    return Markup('<a href="/staffingquotaview/drill/{}">{}</a>').format(pk, escape(gettext("下级明细")))


class StaffingQuotaView(TenantModelView):
    datamodel = SQLAInterface(StaffingQuota)
    include_route_methods = {"list", "show", "drill", "export"}
    list_title = show_title = _("编制定额")
    list_template = "countydesk/quota_list.html"
    list_columns = ["org_unit", "position", "period", "quota", "staffed", "vacant", "over", "rule_version", "id"]
    show_columns = ["org_unit", "position", "period", "quota", "staffed", "vacant", "over", "rule_version",
                    "rule_formula", "rule_effective_from", "inputs_text", "computed_at"]
    search_columns = ["period", "position", "org_unit"]
    label_columns = QUOTA_LABELS
    formatters_columns = {**dict.fromkeys(COUNT_COLUMNS, format_count), "id": _drill_link}
    base_order = ("period", "desc")

    @expose("/drill/<int:pk>")
    @has_access
    @permission_name("list")
    def drill(self, pk: int) -> Any:
        """One row with its children's rows (same position and period) and a link up to its parent's."""
        found = drill_down(pk)
        if found is None:
            abort(404)
        return self.render_template("countydesk/quota_drill.html", title=gettext("编制定额明细"), drill=found,
                                    count=format_count)

    @expose("/export/")
    @has_access
    @permission_name("download")
    def export(self) -> Any:
        """The current filtered list (same ``_flt_`` arguments as the list) as an xlsx download."""
        filters = self.datamodel.get_filters(self.search_columns)
        get_filter_args(filters)
        _count, items = self.datamodel.query(filters, "period", "desc")
        _prefetch_units(items)
        items.sort(key=lambda q: (q.period, q.position.code if q.position else "",
                                  q.org_unit.path if q.org_unit else ""))
        period = next((v for k, v in request.args.items() if re.fullmatch(r"_flt_\d+_period", k)), "")
        name = f"{_tenant_slug()}_{period if PERIOD_PATTERN.match(period) else 'all'}_staffing_quota.xlsx"
        data = write_quota_xlsx(export_rows(items))
        return send_file(io.BytesIO(data), mimetype=XLSX, as_attachment=True, download_name=name)


def _prefetch_units(items: list[StaffingQuota]) -> None:
    """Load the listed rows' org units in one query (the rows then find them in the session)."""
    ids = {q.org_unit_id for q in items}
    if ids:
        list(db.session.scalars(select(OrgUnit).where(OrgUnit.id.in_(ids))))


def _tenant_slug() -> str:
    from app.core.models import Tenant

    scope = current_scope()
    tenant = db.session.get(Tenant, scope.tenant_id) if scope and scope.tenant_id else None
    return tenant.slug if tenant else "tenant"


class StaffingQuotaRecomputeView(BaseView):
    """"重新计算" on the quota screen: queues one recompute of the county's period, shows the job page."""

    route_base = "/staffingquota/recompute"

    @expose("/", methods=["POST"])
    @has_access
    @permission_name("post")
    def post(self) -> Any:
        from app.staffing.tasks import enqueue_recompute

        period = (request.form.get("period") or "").strip()
        scope = current_scope()
        if not PERIOD_PATTERN.match(period) or scope is None or scope.tenant_id is None or scope.read_only:
            abort(400)
        user = getattr(g, "user", None)
        job = enqueue_recompute(period, tenant_id=scope.tenant_id, user_id=getattr(user, "id", None))
        return redirect(f"/jobs/{job.id}")


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
declare_view(ViewSpec(StaffingQuotaRecomputeView, "StaffingQuotaRecompute", menu=False, readers=(),
                      writers=("county_admin",)))
auto_recompute.install()  # quotas follow population and formula changes (imported when the app is built)

"""上报情况 screen: a periodic form's reporting rate per town and county, and a town's units (declarations + glue).

Read-only for every role; the figures come from ``app.forms.completeness`` (scoped to the user's
town for a town clerk). A missing unit links to the form's add screen with unit and period filled.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import abort, request
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import lazy_gettext as _

from app.core import clock
from app.core.errors import CountyDeskError, NotFound
from app.core.registry import ViewSpec, declare_view
from app.core.tenancy import current_scope
from app.forms import completeness as svc
from app.forms import services

T = "countydesk/forms/"


def _default_period(periodicity: str, today: dt.date | None = None) -> str:
    """The last period that has ended (what clerks chase)."""
    today = today or clock.server_today()
    last = today.replace(day=1) - dt.timedelta(days=1)
    if periodicity == "monthly":
        return last.strftime("%Y-%m")
    if periodicity == "quarterly":
        q = (today.month - 1) // 3
        return f"{today.year}-Q{q}" if q else f"{today.year - 1}-Q4"
    return str(today.year - 1)


class CompletenessView(BaseView):
    """上报情况: per town and county, how many units reported on time, late, or not at all."""

    route_base = "/reporting"
    default_view = "list"

    @expose("/")
    @has_access
    def list(self) -> Any:
        forms = [lf for lf in services.current_forms()
                 if lf.form.periodic and lf.form.org_target and lf.form.due_day is not None]
        code = request.args.get("form") or (forms[0].form.code if forms else "")
        chosen = next((lf for lf in forms if lf.form.code == code), None)
        result, error = None, None
        period = ""
        if chosen is not None:
            period = (request.args.get("period") or "").strip() or _default_period(chosen.form.periodicity)
            try:
                result = svc.completeness(chosen.form.code, period)
            except CountyDeskError as exc:
                error = exc.message
        elif code:
            error = str(_("没有可统计上报率的表单「%(code)s」", code=code))
        return self.render_template(T + "completeness.html", forms=forms, code=code, period=period,
                                    result=result, error=error)

    @expose("/<code>/<period>/town/<int:town_id>")
    @has_access
    def show(self, code: str, period: str, town_id: int) -> Any:
        try:
            result = svc.completeness(code, period)
            town, units = svc.town_detail(code, period, town_id)
        except NotFound:
            abort(404)
        except CountyDeskError as exc:
            abort(exc.status if exc.status in (400, 403, 404) else 400)
        rate = next((r for r in result.towns if r.org_id == town.id), None)
        scope = current_scope()
        can_add = scope is not None and not scope.read_only
        return self.render_template(T + "completeness_town.html", result=result, town=town, units=units, rate=rate,
                                    can_add=can_add)


declare_view(ViewSpec(CompletenessView, "Reporting completeness", _("上报情况"), "FormsMenu", _("表单填报"),
                      "fa-check-square-o"))

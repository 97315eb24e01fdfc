"""Appraisal screens: results per person and period (FAB list/show, REST API, printable 年度考核表),
the monthly scoring sheet and the 月通报 page.

Declarations only: results are written by ``app.workflows.appraisal`` (a finished SS-7 case, a
month's scoring, the annual derivation), never typed into a screen, so no write route exists.
Everything reads through the ORM and so sees only the user's county.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.models.sqla.filters import FilterEqual
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_babel import gettext
from flask_babel import lazy_gettext as _
from markupsafe import Markup, escape

from app.core import clock
from app.core.errors import CountyDeskError
from app.core.registry import ViewSpec, declare_view
from app.core.views import TenantModelApi, TenantModelView
from app.extensions import db
from app.workflows import appraisal
from app.workflows.appraisal_models import AppraisalResult

RESULT_LABELS = {"person": _("姓名"), "org_unit": _("所在村（社区）"), "appointment": _("聘用记录"),
                 "period": _("期间"), "scheme": _("考核方案"), "scores": _("各项得分"), "scores_text": _("各项得分"),
                 "total": _("总分"), "grade": _("等次"), "rank_in_town": _("镇内名次"),
                 "rank_in_county": _("县内名次"), "last_place": _("末位"), "source_instance": _("来源流程"),
                 "updated_at": _("更新时间"), "id": _("考核表")}
RESULT_READERS = ("county_admin", "town_clerk", "province_viewer")
"""Colleagues' grades are personnel data: the county, its towns and the provincial viewers read them."""


def _print_link(pk: int) -> Markup:
    return Markup('<a href="/appraisal/results/print/{}" target="_blank">{}</a>').format(pk, escape(gettext("打印")))


def _blank(value: object) -> object:
    return "—" if value is None else value


def _flag(value: bool) -> Markup:
    return Markup('<span class="label label-warning">{}</span>').format(gettext("末位")) if value else Markup("")


class AppraisalResultView(TenantModelView):
    """``/appraisal/results/list/``: stored results with FAB's filters (期间, 考核方案, 等次, 村（社区）, 姓名, 末位).

    Read-only (only list/show and the print routes exist): rows come from the appraisal services.
    Tenant scoping is the data layer's, as on every screen.
    """

    datamodel = SQLAInterface(AppraisalResult)
    route_base = "/appraisal/results"
    include_route_methods = {"list", "show", "index", "print_html", "print_pdf"}
    list_title = show_title = _("考核结果")
    list_columns = ["person", "org_unit", "period", "scheme", "total", "grade", "rank_in_town", "rank_in_county",
                    "last_place", "id"]
    show_columns = ["person", "org_unit", "appointment", "period", "scheme", "total", "grade", "rank_in_town",
                    "rank_in_county", "last_place", "scores_text", "source_instance", "updated_at"]
    search_columns = ["period", "scheme", "grade", "org_unit", "person", "last_place"]
    search_form_query_rel_fields = {"org_unit": [["level", FilterEqual, "village"]]}
    label_columns = RESULT_LABELS
    formatters_columns = {"id": _print_link, "last_place": _flag,
                          **dict.fromkeys(("total", "rank_in_town", "rank_in_county", "appointment",
                                           "source_instance"), _blank)}
    base_order = ("period", "desc")

    @expose("/")
    @has_access
    @permission_name("list")
    def index(self) -> Any:
        """Old links (``?period=2025&scheme=SS7``) open the list with the same filters (equal match)."""
        args: dict[str, Any] = {f"_flt_3_{k}": request.args[k].strip() for k in ("period", "scheme", "grade")
                                if (request.args.get(k) or "").strip()}
        return redirect(url_for(f"{self.endpoint}.list", **args))

    @expose("/print/<int:pk>")
    @has_access
    @permission_name("show")
    def print_html(self, pk: int) -> Any:
        """年度考核表 with the final grade (A4 page; PDF beside it)."""
        from app.documents.layout import render_html
        from app.workflows.appraisal_print import result_doc

        try:
            doc, _name = result_doc(pk)
        except CountyDeskError as exc:
            abort(exc.status, exc.message)
        return render_html(doc, pdf_url=url_for(f"{self.endpoint}.print_pdf", pk=pk))

    @expose("/print/<int:pk>.pdf")
    @has_access
    @permission_name("show")
    def print_pdf(self, pk: int) -> Any:
        from app.documents.pdf import render_pdf, send_pdf
        from app.workflows.appraisal_print import result_doc

        try:
            doc, name = result_doc(pk)
        except CountyDeskError as exc:
            abort(exc.status, exc.message)
        return send_pdf(render_pdf(doc), name)


class AppraisalResultApi(TenantModelApi):
    """``/api/v1/appraisal_result/``: what pay rules and provincial viewers read; read-only like the screen."""

    resource_name = "appraisal_result"
    datamodel = SQLAInterface(AppraisalResult)
    include_route_methods = {"get", "get_list", "info"}
    list_columns = ["id", "person.id", "person.name", "org_unit.id", "org_unit.code", "org_unit.name",
                    "appointment.id", "appointment.position_code", "period", "scheme", "total", "grade",
                    "rank_in_town", "rank_in_county", "last_place", "source_instance.id"]
    show_columns = [*list_columns, "scores", "updated_at"]
    search_columns = ["period", "scheme", "grade", "org_unit", "person", "last_place"]
    order_columns = ["period", "scheme", "total", "grade", "rank_in_town", "rank_in_county"]
    base_order = ("period", "desc")


class AppraisalBulletinView(BaseView):
    """``/appraisal/bulletin/?period=2025-03``: the month's ranks per town (月通报)."""

    route_base = "/appraisal/bulletin"
    default_view = "list"

    @expose("/")
    @has_access
    @permission_name("list")
    def list(self) -> Any:
        today = clock.server_today()
        last_month = (today.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
        period = (request.args.get("period") or last_month).strip()
        try:
            found = appraisal.bulletin(period)
        except CountyDeskError as exc:
            abort(exc.status, exc.message)
        return self.render_template("countydesk/workflows/bulletin.html", bulletin=found, period=period)


class AppraisalScoresView(BaseView):
    """``/appraisal/scores/?period=2025-03``: the month's scoring sheet (月考核) for town clerks and the county."""

    route_base = "/appraisal/scores"
    default_view = "list"

    @expose("/")
    @has_access
    @permission_name("list")
    def list(self) -> Any:
        period = (request.args.get("period") or clock.server_today().strftime("%Y-%m")).strip()
        try:
            scheme, rows = appraisal.scoring_sheet(period)
        except CountyDeskError as exc:
            abort(exc.status, exc.message)
        return self.render_template("countydesk/workflows/appraisal_scores.html", scheme=scheme, rows=rows,
                                    period=period)

    @expose("/", methods=["POST"])
    @has_access
    @permission_name("post")
    def post(self) -> Any:
        period = (request.form.get("period") or "").strip()
        scores: dict[int, dict[str, str]] = {}
        for key, value in request.form.items():
            m = re.fullmatch(r"s_(\d+)_(\w+)", key)
            if m and value.strip():
                scores.setdefault(int(m.group(1)), {})[m.group(2)] = value.strip()
        try:
            n = appraisal.record_month(period, scores)
        except CountyDeskError as exc:
            db.session.rollback()
            abort(exc.status, exc.message)
        flash(gettext("已保存 %(n)s 人的月度考核并重新排名", n=n), "info")
        return redirect(f"/appraisal/bulletin/?period={period}")


declare_view(ViewSpec(AppraisalScoresView, "AppraisalScores", _("月考核打分"), "Workflows", _("流程办理"),
                      "fa-pencil-square-o", writers=("county_admin", "town_clerk"),
                      readers=("county_admin", "town_clerk")))
declare_view(ViewSpec(AppraisalResultView, "AppraisalResults", _("考核结果"), "Workflows", _("流程办理"),
                      "fa-trophy", writers=(), readers=RESULT_READERS))
declare_view(ViewSpec(AppraisalResultApi, "AppraisalResultApi", menu=False, writers=(), readers=RESULT_READERS))
declare_view(ViewSpec(AppraisalBulletinView, "AppraisalBulletin", _("月通报"), "Workflows", _("流程办理"),
                      "fa-bullhorn", writers=()))

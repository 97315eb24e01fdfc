"""Appraisal screens: results per person and period (read-only page and JSON) and the 月通报 page.

Declarations only: results are written by ``app.workflows.appraisal`` (a finished SS-7 case, a
month's scoring, the annual derivation), never typed into a screen, so no write route exists.
The bulletin reads through the ORM and so sees only the user's county (and a clerk's scope).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import abort, flash, jsonify, redirect, request
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_babel import gettext
from flask_babel import lazy_gettext as _

from app.core.errors import CountyDeskError
from app.core.registry import ViewSpec, declare_view
from app.extensions import db
from app.workflows import appraisal


class AppraisalResultsView(BaseView):
    """``/appraisal/results/``: stored results filtered by period and scheme; one person's over the periods.

    Not a FAB ModelView: rows only come from the appraisal services, and the page and its JSON read
    through the ORM, so tenant and clerk scope apply as everywhere (tests/workflows cover isolation).
    """

    route_base = "/appraisal/results"
    default_view = "list"

    @expose("/")
    @has_access
    @permission_name("list")
    def list(self) -> Any:
        period = (request.args.get("period") or "").strip() or None
        scheme = (request.args.get("scheme") or "").strip() or None
        rows = appraisal.results(period=period, scheme=scheme)
        return self.render_template("countydesk/workflows/appraisal.html", rows=rows, period=period or "",
                                    scheme=scheme or "", person=None)

    @expose("/person/<int:person_id>")
    @has_access
    @permission_name("list")
    def person(self, person_id: int) -> Any:
        try:
            found = appraisal.person_results(person_id)
        except CountyDeskError as exc:
            abort(exc.status, exc.message)
        person, rows = found
        return self.render_template("countydesk/workflows/appraisal.html", rows=rows, period="", scheme="",
                                    person=person)

    @expose("/api")
    @has_access
    @permission_name("list")
    def api(self) -> Any:
        period = (request.args.get("period") or "").strip() or None
        scheme = (request.args.get("scheme") or "").strip() or None
        return jsonify([appraisal.result_dict(r) for r in appraisal.results(period=period, scheme=scheme)])


class AppraisalBulletinView(BaseView):
    """``/appraisal/bulletin/?period=2025-03``: the month's ranks per town (月通报)."""

    route_base = "/appraisal/bulletin"
    default_view = "list"

    @expose("/")
    @has_access
    @permission_name("list")
    def list(self) -> Any:
        today = dt.date.today()
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
        period = (request.args.get("period") or dt.date.today().strftime("%Y-%m")).strip()
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
declare_view(ViewSpec(AppraisalResultsView, "AppraisalResults", _("考核结果"), "Workflows", _("流程办理"),
                      "fa-trophy", writers=()))
declare_view(ViewSpec(AppraisalBulletinView, "AppraisalBulletin", _("月通报"), "Workflows", _("流程办理"),
                      "fa-bullhorn", writers=()))

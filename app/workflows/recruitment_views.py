"""``/workflows/round/``: one recruitment round (village, position, year) — posts, the posts + 1 limit, the
candidates' stages and the exam ranking. Declarations only; reads go through the ORM (tenant-scoped).
"""

from __future__ import annotations

from typing import Any

from flask import abort, request
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_babel import lazy_gettext as _

from app.core import clock
from app.core.errors import CountyDeskError
from app.core.registry import ViewSpec, declare_view
from app.workflows.rounds import round_overview


class RecruitmentRoundView(BaseView):
    route_base = "/workflows/round"
    default_view = "list"

    @expose("/")
    @has_access
    @permission_name("list")
    def list(self) -> Any:
        code = (request.args.get("code") or "recruitment").strip()
        unit = (request.args.get("org") or "").strip()
        position = (request.args.get("position") or "").strip()
        try:
            year = int(request.args.get("year") or clock.server_today().year)
        except ValueError:
            abort(400, "年度应为数字")
        if not unit or not position:
            abort(400, "请指定村（org）和岗位（position）")
        try:
            found = round_overview(code, unit, position, year)
        except CountyDeskError as exc:
            abort(exc.status, exc.message)
        return self.render_template("countydesk/workflows/round.html", round=found, code=code, position=position)


declare_view(ViewSpec(RecruitmentRoundView, "RecruitmentRound", _("选聘轮次"), "Workflows", _("流程办理"),
                      "fa-users", writers=(), menu=False))

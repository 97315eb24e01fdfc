"""Formula editor screen: live check and a preview on real org units (declarations only).

The logic is in ``app.staffing.formula_preview`` (check = the type check of saving, preview =
the Python back end on the county's own units, save = ``set_rule``). Check and preview are GET
endpoints answering JSON, so the page's script needs no CSRF token for them; saving is a form
POST carrying the token.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import flash, g, jsonify, redirect, request
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_babel import gettext
from flask_babel import lazy_gettext as _

from app.core import clock
from app.core.errors import CountyDeskError
from app.core.registry import ViewSpec, declare_view
from app.extensions import db
from app.formulas import FormulaError
from app.orgs.models import ORG_LEVEL_LABELS
from app.staffing import formula_preview as service
from app.staffing.views import STAFF, STAFF_LABEL

ADMINS = ("county_admin",)


class FormulaEditorView(BaseView):
    """编辑定额公式：检查、在本县真实单位上预览、保存为新版本。"""

    route_base = "/formula_editor"
    default_view = "index"

    def _page(self, status: int = 200, **values: Any) -> Any:
        form = {"formula": request.values.get("formula", ""), "level": request.values.get("level", "village"),
                "position_id": request.values.get("position_id", ""),
                "effective_from": request.values.get("effective_from", clock.server_today().isoformat())}
        page = self.render_template("countydesk/formula_editor.html", title=gettext("定额公式编辑"),
                                    positions=service.positions(), formulas=service.latest_formulas(),
                                    levels=service.level_choices(),
                                    level_labels=ORG_LEVEL_LABELS, form=form, **values)
        return page, status

    @expose("/")
    @has_access
    @permission_name("list")
    def index(self) -> Any:
        return self._page()

    @expose("/check")
    @has_access
    @permission_name("list")
    def check(self) -> Any:
        return jsonify(service.check_formula(request.args.get("formula", "")).as_json())

    @expose("/preview")
    @has_access
    @permission_name("list")
    def preview(self) -> Any:
        text = request.args.get("formula", "")
        try:
            limit = int(request.args.get("n", "10"))
        except ValueError:
            limit = 10
        try:
            found = service.preview_formula(text, request.args.get("level", "village"), limit=limit,
                                            period=request.args.get("period") or None)
        except FormulaError:
            return jsonify({"ok": False, **service.check_formula(text).as_json()})
        except CountyDeskError as exc:
            return jsonify({"ok": False, "message": exc.message}), exc.status
        return jsonify({"ok": True, "period": found.period, "level": found.level,
                        "rows": [{"code": r.code, "name": r.name, "inputs": r.inputs, "value": r.value,
                                  "error": r.error} for r in found.rows]})

    @expose("/save", methods=["POST"])
    @has_access
    @permission_name("post")
    def save(self) -> Any:
        text = request.form.get("formula", "")
        try:
            position_id = int(request.form.get("position_id", ""))
            effective_from = dt.date.fromisoformat(request.form.get("effective_from", ""))
        except ValueError:
            return self._page(400, error=gettext("请选择岗位并填写生效日期（如 2026-01-01）"))
        user = getattr(g, "user", None)
        try:
            rule = service.save_version(position_id, text, effective_from, getattr(user, "id", None))
        except FormulaError as err:
            return self._page(422, error=str(err), caret=err.caret)
        except CountyDeskError as exc:
            db.session.rollback()
            return self._page(exc.status, error=exc.message)
        flash(gettext("已保存为第%(n)s版，自%(d)s起生效", n=rule.version, d=rule.effective_from.isoformat()), "success")
        return redirect(f"/formula_editor/?position_id={position_id}")


declare_view(ViewSpec(FormulaEditorView, "FormulaEditor", _("定额公式编辑"), STAFF, STAFF_LABEL, "fa-code",
                      readers=ADMINS, writers=ADMINS))

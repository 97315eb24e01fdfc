"""流程设计: the county admin's screen to create and change workflow definitions (declarations + glue).

Logic lives in ``app.workflows.designer``; definitions are read through the data layer, so an admin
sees and changes only the own county's workflows (another county's code is a 404).  Every save is
a new version; cases in flight keep theirs.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import lazy_gettext as _
from flask_wtf import FlaskForm
from markupsafe import Markup

from app.core.designer_base import posted_action
from app.core.designer_views import DesignerVersionsView
from app.core.registry import ViewSpec, declare_view
from app.workflows import designer
from app.workflows.designer import Checked, WorkflowDesignerError

T = "countydesk/workflows/"
SUBJECT_LABELS = {"person": "人员", "county": "县（市）", "town": "镇（街道）", "village": "村（社区）",
                  "group": "村民小组"}


class WorkflowDesignerView(DesignerVersionsView):
    """The county's workflows: list, new, edit (check / preview / save), versions and diffs."""

    route_base = "/workflow-designer"
    default_view = "list"
    designer_module = designer

    def _render(self, template: str, **kw: Any) -> Any:
        return self.render_template(T + template, subject_labels=SUBJECT_LABELS, **kw)

    @expose("/")
    @has_access
    def list(self) -> Any:
        return self._render("designer_list.html", workflows=designer.summaries())

    @expose("/new", methods=["GET", "POST"])
    @has_access
    def add(self) -> Any:
        return self._editor(None)

    @expose("/<code>/edit", methods=["GET", "POST"])
    @has_access
    def edit(self, code: str) -> Any:
        if designer.spec_of(code) is None:
            abort(404)
        return self._editor(code)

    def _editor(self, code: str | None) -> Any:
        row = designer.spec_of(code) if code else None
        base_version = row.version if row else None
        status, svg = 200, None
        checked: Checked | None = None
        if request.method == "POST":
            action, base_version = posted_action()
            text = str(request.form.get("definition_yaml") or "")
            checked = designer.check(text, editing=code)
            if not checked.ok:
                status = 422
            elif action == "save":
                try:
                    version, added = designer.save(checked, editing=code, base_version=base_version)
                except WorkflowDesignerError as exc:
                    checked.problems = exc.problems
                    status = 409  # someone saved this workflow meanwhile
                else:
                    if added:
                        flash(str(_("已保存为第 %(v)s 版；新发起的流程立即使用此版本，办理中的流程仍按原版本",
                                    v=version)), "success")
                    else:
                        flash(str(_("没有改动，未生成新版本")), "info")
                    assert checked.definition is not None
                    return redirect(url_for(".show", code=checked.definition.code))
            elif action == "preview" and checked.definition is not None:
                svg = Markup(designer.preview_svg(checked.definition))
            else:
                flash(str(_("检查通过，没有发现问题（尚未保存）")), "success")
        else:
            text = designer.to_yaml(row.spec) if row else designer.NEW_WORKFLOW
        title = row.name if row else _("新建流程")
        return self._render("designer_edit.html", code=code, row=row, base_version=base_version, yaml_text=text,
                            checked=checked, svg=svg, title=title, csrf_form=FlaskForm()), status

    def _page_extras(self, page: str, code: str, row: Any = None,
                     version: int | None = None) -> dict[str, Any]:
        if page != "version" or version is None:
            return {}
        from app.workflows.services import load_definition

        return {"svg": Markup(designer.preview_svg(load_definition(code, version)))}


declare_view(ViewSpec(WorkflowDesignerView, "WorkflowDesigner", _("流程设计"), "Workflows", _("流程办理"),
                      "fa-pencil-square-o", writers=("county_admin",), readers=("county_admin",)))

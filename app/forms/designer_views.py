"""表单设计: the county admin's screen to create and change forms and custom fields (declarations + glue).

Logic lives in ``app.forms.designer``; definitions are read through the data layer, so an admin
sees and changes only the own county's forms.  Every save is a new version.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import lazy_gettext as _
from flask_wtf import FlaskForm

from app.core.designer_base import posted_action
from app.core.designer_views import DesignerVersionsView
from app.core.registry import ViewSpec, declare_view
from app.forms import custom_fields as cf
from app.forms import designer
from app.forms.definition import FIELD_TYPE_LABELS, PERIODICITIES, TARGETS
from app.forms.designer import Checked, DesignerError

T = "countydesk/forms/"
TARGET_LABELS = {"village": "村（社区）", "town": "镇（街道）", "county": "县（市）", "person": "人员"}
PERIODICITY_LABELS = {"none": "不定期", "monthly": "每月", "quarterly": "每季度", "yearly": "每年"}


class FormDesignerView(DesignerVersionsView):
    """The tenant's forms and custom fields: list, new, edit (check / preview / save), versions and diffs."""

    route_base = "/form-designer"
    default_view = "list"
    designer_module = designer

    def _render(self, template: str, **kw: Any) -> Any:
        return self.render_template(T + template, target_labels=TARGET_LABELS,
                                    periodicity_labels=PERIODICITY_LABELS, entities=cf.ENTITIES, **kw)

    @expose("/")
    @has_access
    def list(self) -> Any:
        return self._render("designer_list.html", forms=designer.form_summaries(), custom=cf.entity_rows(),
                            entity_label=cf.entity_label)

    @expose("/new", methods=["GET", "POST"])
    @has_access
    def add(self) -> Any:
        return self._editor(None)

    @expose("/<code>/edit", methods=["GET", "POST"])
    @has_access
    def edit(self, code: str) -> Any:
        if cf.entity_of(code) is None and designer.spec_of(code) is None:
            abort(404)
        return self._editor(code)

    def _editor(self, code: str | None) -> Any:
        entity = cf.entity_of(code)
        row = designer.spec_of(code) if code else None
        base_version = row.version if row else None
        status = 200
        preview = None
        checked: Checked | None = None
        if request.method == "POST":
            action, base_version = posted_action()
            raw, lines, syntax = designer.raw_from_post(request.form, entity)
            checked = designer.check(raw, lines, editing=code, syntax=syntax)
            if checked.ok and action == "save":
                try:
                    saved = designer.save(checked, editing=code, base_version=base_version)
                except DesignerError as exc:
                    checked.problems = exc.problems
                    status = 422
                else:
                    if saved.version == base_version:
                        flash(str(_("没有改动，未生成新版本")), "info")
                    else:
                        flash(str(_("已保存为第 %(v)s 版", v=saved.version)), "success")
                    return redirect(url_for(".show", code=saved.code))
            elif not checked.ok:
                status = 422
            elif action == "preview" and checked.form is not None:
                preview = designer.preview_form(checked.form, place=entity is None)
            elif action == "check":
                flash(str(_("检查通过，没有发现问题（尚未保存）")), "success")
            shown_raw = raw if isinstance(raw, dict) else None
            yaml_text = (designer.to_yaml(designer.entity_body(shown_raw) if entity else shown_raw)
                         if shown_raw is not None else str(request.form.get("definition_yaml") or ""))
        else:
            shown_raw = (row.spec if row else
                         ({"sections": [{"title": cf.SECTION_TITLE, "fields": []}]} if entity else designer.NEW_FORM))
            yaml_text = designer.to_yaml(designer.entity_body(shown_raw) if entity else shown_raw)
        header = shown_raw if isinstance(shown_raw, dict) else {}
        mode = "yaml" if request.method == "POST" and shown_raw is None else "table"
        return self._render("designer_edit.html", code=code, entity=entity, row=row, base_version=base_version,
                            header=header, rows=designer.rows_from_raw(shown_raw), yaml_text=yaml_text, mode=mode,
                            checked=checked, preview=preview,
                            preview_form=checked.form if checked and preview else None,
                            field_types=FIELD_TYPE_LABELS, targets=TARGETS, periodicities=PERIODICITIES,
                            title=cf.entity_label(entity) if entity else (row.name if row else _("新建表单")),
                            csrf_form=FlaskForm()), status

    def _title(self, code: str, name: str | None) -> Any:
        entity = cf.entity_of(code)
        return cf.entity_label(entity) if entity else (name or code)

    def _has_no_versions_yet(self, code: str) -> bool:
        return cf.entity_of(code) is not None  # a core entity before its first custom field

    def _page_extras(self, page: str, code: str, row: Any = None,
                     version: int | None = None) -> dict[str, Any]:
        if page == "versions":
            return {"entity": cf.entity_of(code)}
        return {"field_types": FIELD_TYPE_LABELS} if page == "diff" else {}


declare_view(ViewSpec(FormDesignerView, "FormDesigner", _("表单设计"), "FormsMenu", _("表单填报"),
                      "fa-pencil-square-o", writers=("county_admin",), readers=("county_admin",)))

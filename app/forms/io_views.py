"""Import, export and print of a form's records: routes beside the generic form screens (declarations + glue).

``/forms/<code>/import`` (upload → dry-run job → ``/jobs/<id>``, where 确认导入 commits the same
file), ``/forms/<code>/import/template.xlsx``, ``/forms/<code>/export.xlsx`` (the list's filters)
and ``/forms/<code>/<id>/print`` + ``print.pdf``. Logic lives in io_import, io_export and printing;
tenant scoping in the data layer (another county's record or job is "not found").
"""

from __future__ import annotations

from typing import Any

from flask import abort, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_babel import lazy_gettext as _

from app.core.errors import NotFound
from app.core.registry import ViewSpec, declare_view
from app.core.tenancy import current_tenant_id
from app.core.xlsx_export import send_xlsx
from app.documents.importer import template_xlsx
from app.documents.pdf import render_pdf, send_pdf
from app.documents.uploads import ACCEPTED, ENCODING_CHOICES, UploadRefused, max_upload_bytes, store_upload
from app.forms import services
from app.forms.io_export import export_xlsx
from app.forms.io_import import FormImport, enqueue_form_import
from app.forms.models import RECORD_STATUS_LABELS
from app.forms.printing import printable

IMPORTERS = ("county_admin", "town_clerk")
"""Who may import (a town clerk only rows of its own town: others are row problems)."""


def _live(code: str) -> services.LiveForm:
    try:
        return services.get_form(code)
    except NotFound:
        abort(404)


class FormIOView(BaseView):
    """导入、导出、打印: one form's file in and out."""

    route_base = "/forms"
    default_view = "import_page"

    @expose("/<code>/import")
    @has_access
    @permission_name("post")
    def import_page(self, code: str) -> Any:
        live = _live(code)
        FormImport(code)  # refused (422, in Chinese) for a form without a natural key
        return self.render_template("countydesk/forms/import.html", form=live.form, accepted=ACCEPTED,
                                    encodings=ENCODING_CHOICES, max_mb=f"{max_upload_bytes() / 1024 / 1024:g}")

    @expose("/<code>/import", methods=["POST"])
    @has_access
    def post(self, code: str) -> Any:
        """Store the upload (size and type checked first), then queue a dry run — or the import itself."""
        _live(code)
        FormImport(code)  # a form that cannot be imported is refused before the file is stored
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise UploadRefused(f"请选择要导入的文件（{ACCEPTED}）")
        stored = store_upload(upload.stream, upload.filename, request.form.get("encoding") or None)
        dry_run = request.form.get("dry_run") == "1"
        job = enqueue_form_import(code, stored.upload_id, stored.path, dry_run=dry_run,
                                  tenant_id=current_tenant_id(), user_id=getattr(g.user, "id", None))
        return redirect(url_for("JobStatusView.show", job_id=job.id))

    @expose("/<code>/import/template.xlsx")
    @has_access
    def download(self, code: str) -> Any:
        live = _live(code)
        return send_xlsx(template_xlsx(FormImport(code)), f"{live.form.name}导入模板.xlsx")

    @expose("/<code>/export.xlsx")
    @has_access
    @permission_name("download")
    def export(self, code: str) -> Any:
        """The list as it is filtered on the screen (org unit subtree, period, status), every page."""
        _live(code)
        org = request.args.get("org_unit", "")
        status = request.args.get("status")
        data, name = export_xlsx(code, org_unit_id=int(org) if org.isdigit() else None,
                                 period=request.args.get("period") or None,
                                 status=status if status in RECORD_STATUS_LABELS else None,
                                 sort=request.args.get("sort") or "-id")
        return send_xlsx(data, name)

    @expose("/<code>/<int:rid>/print")
    @has_access
    @permission_name("show")
    def print_html(self, code: str, rid: int) -> Any:
        from app.documents.layout import render_html

        try:
            doc, _name = printable(code, rid)
        except NotFound:
            abort(404)
        return render_html(doc, pdf_url=url_for(".print_pdf", code=code, rid=rid))

    @expose("/<code>/<int:rid>/print.pdf")
    @has_access
    @permission_name("show")
    def print_pdf(self, code: str, rid: int) -> Any:
        try:
            doc, name = printable(code, rid)
        except NotFound:
            abort(404)
        return send_pdf(render_pdf(doc), name)


declare_view(ViewSpec(FormIOView, "FormIO", _("表单导入导出"), menu=False, writers=IMPORTERS))

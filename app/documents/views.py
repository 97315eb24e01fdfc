"""Generic import screen: template download, upload, dry-run job, then commit from the job page.

Any importable kind registers once (``register_import``); the screen and the job are the same
for all of them. Declarations only: checks live in uploads.py, importer.py and jobs.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import g, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import lazy_gettext as _

from app.core.errors import NotFound
from app.core.registry import ViewSpec, declare_view
from app.core.tenancy import current_tenant_id
from app.core.xlsx_export import send_xlsx
from app.documents.importer import template_xlsx
from app.documents.tasks import enqueue_import, make_handler
from app.documents.uploads import ACCEPTED, ENCODING_CHOICES, UploadRefused, max_upload_bytes, store_upload


@dataclass(frozen=True)
class ImportSpec:
    code: str
    title: str
    factory: str
    """Dotted path of a callable returning the RowHandler (called in the job, with ``handler_args``)."""
    handler_args: dict[str, Any] = field(default_factory=dict)


IMPORTS: dict[str, ImportSpec] = {}


def register_import(code: str, title: str, factory: str, handler_args: dict[str, Any] | None = None) -> ImportSpec:
    IMPORTS[code] = ImportSpec(code, title, factory, dict(handler_args or {}))
    return IMPORTS[code]


def _spec(code: str) -> ImportSpec:
    spec = IMPORTS.get(code)
    if spec is None:
        raise NotFound("没有这种导入")
    return spec


register_import("population", "人口数据", "app.documents.population_import.PopulationImport")


class ImportView(BaseView):
    route_base = "/documents/import"
    default_view = "list"

    @expose("/<code>")
    @has_access
    def list(self, code: str) -> Any:
        spec = _spec(code)
        return self.render_template("countydesk/job_import.html", spec=spec, accepted=ACCEPTED,
                                    encodings=ENCODING_CHOICES, max_mb=f"{max_upload_bytes() / 1024 / 1024:g}")

    @expose("/<code>/template.xlsx")
    @has_access
    def download(self, code: str) -> Any:
        spec = _spec(code)
        return send_xlsx(template_xlsx(make_handler(spec.factory, spec.handler_args)), f"{spec.title}导入模板.xlsx")

    @expose("/<code>", methods=["POST"])
    @has_access
    def post(self, code: str) -> Any:
        spec = _spec(code)
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise UploadRefused(f"请选择要导入的文件（{ACCEPTED}）")
        stored = store_upload(upload.stream, upload.filename, request.form.get("encoding") or None)
        job = enqueue_import(spec.factory, stored.upload_id, dry_run=True, tenant_id=current_tenant_id(),
                             user_id=getattr(g.user, "id", None), handler_args=spec.handler_args)
        return redirect(url_for("JobStatusView.show", job_id=job.id))


declare_view(ViewSpec(ImportView, "DocumentImport", _("导入"), menu=False,
                      writers=("county_admin", "town_clerk", "village_worker")))

"""Job status screen: progress bar of a background job of the current county."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, redirect, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access, has_access_api
from flask_babel import lazy_gettext as _

from app.core.registry import ViewSpec, declare_view
from app.documents import views as _import_screen  # noqa: F401  (declares the import screen)
from app.documents.jobs import can_commit_import, commit_import, job_func, job_status, load_job
from app.security.context import is_platform_admin


class JobStatusView(BaseView):
    """``/jobs/<id>``: polls ``/jobs/<id>/status.json``; an import's problems as a table."""

    route_base = "/jobs"
    default_view = "show"

    @expose("/<job_id>")
    @has_access
    def show(self, job_id: str) -> Any:
        job = load_job(job_id, allow_untenanted=is_platform_admin(g.user))
        status = job_status(job)
        return self.render_template("countydesk/job_status.html", job=status, func=job_func(job),
                                    can_commit=can_commit_import(job, status))

    @expose("/<job_id>/status.json")
    @has_access_api
    def info(self, job_id: str) -> Any:
        job = load_job(job_id, allow_untenanted=is_platform_admin(g.user))
        return jsonify(job_status(job))

    @expose("/<job_id>/commit", methods=["POST"])
    @has_access
    def post(self, job_id: str) -> Any:
        """Commit the file a problem-free dry run checked: a new job, shown on its own page."""
        job = load_job(job_id)
        new_job = commit_import(job, getattr(g.user, "id", None))
        return redirect(url_for("JobStatusView.show", job_id=new_job.id))


declare_view(ViewSpec(JobStatusView, "JobStatus", _("任务进度"), menu=False,
                      writers=("county_admin", "town_clerk", "village_worker")))

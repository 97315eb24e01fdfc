"""Jobs run inline without Redis, and on a real rq worker when REDIS_URL is set."""

from __future__ import annotations

import os

from sqlalchemy import select

from app.core.models import Tenant
from app.extensions import db
from app.jobs.queue import enqueue, get_queue, wait_for


def test_tenant_load_runs_as_a_job_with_progress(app, copy_tenant):
    folder = copy_tenant("guanling", "gl_job")
    with app.app_context():
        job = enqueue("app.tenantio.tasks.load_folder", tenant_id=None, user_id=None, queue="long",
                      folder=str(folder))
        assert wait_for(job) == "finished", job.latest_result()
        job.refresh()
        assert job.meta["done"] == job.meta["total"] == 2
        assert "gl_job" in job.meta["message"]
        assert job.meta["tenant_id"] is None  # the tenant travels with the job
        db.session.remove()
        tenant = db.session.scalar(select(Tenant).where(Tenant.slug == "gl_job"))
        assert tenant is not None and tenant.name.startswith("关岭")


def test_queue_mode_matches_environment(app):
    with app.app_context():
        queue = get_queue()
        assert queue.is_async == bool(os.environ.get("REDIS_URL"))


def test_failing_job_is_marked_failed_not_lost(app):
    with app.app_context():
        job = enqueue("app.tenantio.tasks.load_folder", tenant_id=None, user_id=None, folder="/nonexistent/x")
        assert wait_for(job) == "failed"

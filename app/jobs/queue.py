"""RQ queues: real Redis when ``REDIS_URL`` is set, otherwise jobs run inline on an in-memory Redis.

Every job carries the whole scope of whoever started it; ``run_in_tenant`` re-enters it in the worker.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app
from rq import Queue, get_current_job

from app.core.errors import ScopeDenied
from app.core.tenancy import Scope, current_scope, scope_context

QUEUE_NAMES = ("default", "long")


def init_queues(app: Flask) -> None:
    url = app.config.get("REDIS_URL")
    if url:
        from redis import Redis

        conn: Any = Redis.from_url(url)
        is_async = True
    else:
        import fakeredis

        conn = fakeredis.FakeRedis()
        is_async = False
    app.extensions["countydesk_queues"] = {
        name: Queue(name, connection=conn, is_async=is_async) for name in QUEUE_NAMES
    }
    app.extensions["countydesk_redis"] = conn


def wait_for(job: Any, timeout: float = 120.0) -> Any:
    """Block until a job has finished or failed (tests, CLI); inline jobs are already done."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = job.get_status(refresh=True)
        if status in ("finished", "failed", "stopped", "canceled"):
            return status
        time.sleep(0.1)
    return job.get_status(refresh=True)


def get_queue(name: str = "default") -> Queue:
    queue: Queue = current_app.extensions["countydesk_queues"][name]
    return queue


def job_scope(tenant_id: int | None, user_id: int | None) -> Scope:
    """The scope a new job runs in.

    Started by a user (a request, or a job of one): that user's whole current scope — capture
    path, read-only, roles — so the job may do exactly what the request could. Started with no
    user in scope (CLI, scheduler, a loader's follow-up work): the tenant and user given, as the
    system acting for that county.
    """
    current = current_scope()
    if current is not None and current.user_id is not None:
        if current.tenant_id != tenant_id or user_id not in (None, current.user_id):
            raise ScopeDenied("不能替其他县或其他用户启动后台任务")
        return current
    return Scope(tenant_id=tenant_id, user_id=user_id)


def enqueue(func: str, *, tenant_id: int | None, user_id: int | None, queue: str = "default",
            **kwargs: Any) -> Any:
    """Enqueue ``func`` (dotted path) to run in the scope of whoever starts it (``job_scope``)."""
    return enqueue_in_scope(func, job_scope(tenant_id, user_id), kwargs, queue=queue, job_timeout=3600)


def enqueue_in_scope(func: str, scope: Scope, kwargs: dict[str, Any], *, queue: str = "default",
                     meta: dict[str, Any] | None = None, **options: Any) -> Any:
    """Enqueue ``func`` to run in exactly ``scope``; ``options`` go to RQ (``retry``, ``job_timeout``).

    The scope travels in the job's arguments; ``meta`` names the tenant and the owner, which the
    job screens check (``app.documents.jobs.load_job``).
    """
    return get_queue(queue).enqueue(
        "app.jobs.queue.run_in_tenant", func, scope.tenant_id, scope.user_id, kwargs, scope.as_dict(),
        meta={**(meta or {}), "tenant_id": scope.tenant_id, "user_id": scope.user_id}, **options,
    )


def run_in_tenant(func: str, tenant_id: int | None, user_id: int | None, kwargs: dict[str, Any],
                  scope: dict[str, Any] | None = None) -> Any:
    """Worker side: an app context, the scope the job was started in, then the job function.

    The one place a job enters a scope: job bodies never set one themselves. (Jobs queued before
    the scope travelled whole carry only the tenant and user.)
    """
    import importlib

    module_name, _, attr = func.rpartition(".")
    target = getattr(importlib.import_module(module_name), attr)
    entered = Scope.from_dict(scope) if scope is not None else Scope(tenant_id=tenant_id, user_id=user_id)

    def _call() -> Any:
        from app.extensions import db

        try:
            with scope_context(entered):
                return target(**kwargs)
        finally:
            db.session.remove()  # one session per job, like one per request

    from flask import has_app_context

    if has_app_context():  # the worker command runs inside the app
        return _call()
    from app import create_app

    with create_app().app_context():
        return _call()


def report_progress(done: int, total: int, message: str = "") -> None:
    job = get_current_job()
    if job is not None:
        job.meta.update({"done": done, "total": total, "message": message})
        job.save_meta()

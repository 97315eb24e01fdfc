"""RQ queues: real Redis when ``REDIS_URL`` is set, otherwise jobs run inline on an in-memory Redis.

Every job carries the tenant and the user; ``run_in_tenant`` re-enters that scope in the worker.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app
from rq import Queue, get_current_job

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


def enqueue(func: str, *, tenant_id: int | None, user_id: int | None, queue: str = "default",
            **kwargs: Any) -> Any:
    """Enqueue ``func`` (dotted path) to run inside the tenant's scope."""
    return get_queue(queue).enqueue(
        "app.jobs.queue.run_in_tenant", func, tenant_id, user_id, kwargs,
        meta={"tenant_id": tenant_id, "user_id": user_id}, job_timeout=3600,
    )


def run_in_tenant(func: str, tenant_id: int | None, user_id: int | None, kwargs: dict[str, Any]) -> Any:
    """Worker side: an app context, the tenant scope, then the job function."""
    import importlib

    from app.core.tenancy import tenant_context

    module_name, _, attr = func.rpartition(".")
    target = getattr(importlib.import_module(module_name), attr)

    def _call() -> Any:
        from app.extensions import db

        try:
            with tenant_context(tenant_id, user_id=user_id):
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

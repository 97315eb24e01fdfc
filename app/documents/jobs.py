"""What a job screen may show: a job of the current county only, as JSON-safe status and result.

A job id is not a secret (it appears in URLs), so the tenant and the owner a job carries
(``meta.tenant_id``, ``meta.user_id``) are checked against the current scope: a job of another
county or of another user is "not found", never "forbidden"; a county admin sees the county's jobs.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from rq.exceptions import NoSuchJobError
from rq.job import Job

from app.core.errors import NotFound
from app.core.tenancy import COUNTY_WIDE_ROLES, Scope, current_scope

STATUS_LABELS = {
    "queued": "排队中", "deferred": "等待中", "scheduled": "已计划", "started": "进行中",
    "finished": "已完成", "failed": "失败", "stopped": "已停止", "canceled": "已取消",
}
TERMINAL = ("finished", "failed", "stopped", "canceled")
IMPORT_FUNC = "app.documents.tasks.import_file"


def load_job(job_id: str, allow_untenanted: bool = False) -> Job:
    """The job, if the current user may see it: its owner, or an admin of its county (or, for a job
    of no county, a caller allowed to see those). Anything else is "not found", as for a job that
    does not exist: a job id is no proof of the right to it."""
    connection = current_app.extensions["countydesk_redis"]
    try:
        job = Job.fetch(job_id, connection=connection)
    except (NoSuchJobError, ValueError):
        raise NotFound("任务不存在或已过期") from None
    if not _may_see(job.meta or {}, current_scope(), allow_untenanted):
        raise NotFound("任务不存在或已过期")
    return job


def _may_see(meta: dict[str, Any], scope: Scope | None, allow_untenanted: bool) -> bool:
    job_tenant = meta.get("tenant_id")
    if job_tenant is None:
        return allow_untenanted
    if scope is None or scope.tenant_id != job_tenant:
        return False
    if not COUNTY_WIDE_ROLES.isdisjoint(scope.roles):  # the county's admin, or the platform's
        return True
    owner = meta.get("user_id")
    return owner is not None and owner == scope.user_id


def job_kwargs(job: Job) -> dict[str, Any]:
    """Keyword arguments of the wrapped function (``run_in_tenant(func, tenant, user, kwargs, scope)``)."""
    args = job.args or ()
    return dict(args[3]) if len(args) >= 4 and isinstance(args[3], dict) else {}


def job_func(job: Job) -> str | None:
    args = job.args or ()
    return str(args[0]) if args else None


def job_status(job: Job) -> dict[str, Any]:
    """``{status, label, done, total, percent, message, result}`` for the page and its poller."""
    job.refresh()
    raw = job.get_status(refresh=False)
    status = str(getattr(raw, "value", raw) or "queued")  # rq's JobStatus enum
    meta = job.meta or {}
    done, total = meta.get("done"), meta.get("total")
    result = job.return_value() if status == "finished" else None
    percent = 100 if status == "finished" else 0
    if isinstance(done, int) and isinstance(total, int) and total > 0:
        percent = min(100, round(done * 100 / total)) if status != "finished" else 100
    message = str(meta.get("message") or "")
    if isinstance(result, dict) and result.get("message"):
        message = str(result["message"])
    if status == "failed":
        message = "任务失败：" + _failure_reason(job)
    return {"id": job.id, "status": status, "label": STATUS_LABELS.get(status, status), "done": done,
            "total": total, "percent": percent, "message": message, "finished": status in TERMINAL,
            "result": result if _json_safe(result) else str(result)}


def _failure_reason(job: Job) -> str:
    """The exception's last line (our errors are Chinese sentences), never the traceback."""
    latest = job.latest_result()
    text = getattr(latest, "exc_string", None) or job.exc_info or ""
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    if not lines:
        return "原因未知，请联系管理员"
    last = lines[-1]
    _, _, reason = last.partition(": ")
    return (reason or last)[:300]


def _json_safe(value: Any) -> bool:
    import json

    try:
        json.dumps(value, default=str)
    except (TypeError, ValueError):
        return False
    return True


def can_commit_import(job: Job, status: dict[str, Any]) -> bool:
    """A finished, problem-free dry run of an import can be committed from its page."""
    result = status.get("result")
    return (job_func(job) == IMPORT_FUNC and status["status"] == "finished" and isinstance(result, dict)
            and bool(result.get("dry_run")) and bool(result.get("ok")))


def commit_import(job: Job, user_id: int | None) -> Job:
    """Queue the real import of the file a dry run checked (same handler, same upload)."""
    from app.documents.tasks import enqueue_import

    status = job_status(job)
    if not can_commit_import(job, status):
        raise NotFound("只能确认已完成且没有问题的试导入")
    kwargs = job_kwargs(job)
    scope = current_scope()
    return enqueue_import(kwargs["factory"], kwargs["upload_id"], dry_run=False,
                          tenant_id=scope.tenant_id if scope else None, user_id=user_id,
                          handler_args=kwargs.get("handler_args") or {})

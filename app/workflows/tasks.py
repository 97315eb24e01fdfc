"""Side effects of transitions: named task handlers, enqueued after commit, idempotent, retried.

A transition lists task names; ``_move`` queues them on the session, and only when the
transaction commits are they enqueued (a rolled-back transition enqueues nothing). Each runs
in its own transaction, which also marks the task done on its step: a retried or duplicated
job finds it done and does nothing. A failing handler's error and attempt count are stored on
the step (shown on the instance page) and RQ retries it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from app.core import clock

log = logging.getLogger("countydesk.workflows")

MAX_ATTEMPTS = 3
RETRY_INTERVALS = [2, 10]
_PENDING_KEY = "countydesk_workflow_tasks"


@dataclass
class TaskContext:
    """What a handler gets: its own session, the case and the step that triggered it."""

    session: Session
    tenant_id: int
    user_id: int | None
    instance: Any
    step: Any
    name: str

    @property
    def key(self) -> str:
        """Stable per step and task: a handler writing elsewhere can use it to stay idempotent."""
        return f"workflow-step-{self.step.id}-{self.name}"


Handler = Callable[[TaskContext], Any]


def task_handlers() -> dict[str, Handler]:
    """Handlers registered by plugins (``countydesk_register_task_handlers``), built once per app."""
    if not has_app_context():
        from app.hooks.manager import get_plugin_manager

        return _collect(get_plugin_manager())
    cached = current_app.extensions.get("countydesk_task_handlers")
    if cached is None:
        cached = _collect(current_app.extensions["countydesk_plugins"])
        current_app.extensions["countydesk_task_handlers"] = cached
    return dict(cached)


def _collect(pm: Any) -> dict[str, Handler]:
    handlers: dict[str, Handler] = {}
    for mapping in pm.hook.countydesk_register_task_handlers():
        handlers.update(mapping or {})
    return handlers


# -- after commit ------------------------------------------------------------------------------

def queue_step_tasks(session: Session, step_id: int, names: tuple[str, ...] | list[str], user_id: int | None) -> None:
    """Remember the step's tasks on the session; enqueued only if the transaction commits."""
    from app.core.tenancy import current_tenant_id

    _install()
    pending = session.info.setdefault(_PENDING_KEY, [])
    pending.extend((current_tenant_id(), user_id, step_id, name) for name in names)


_installed = False


def _install() -> None:
    global _installed
    if _installed:
        return
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_rollback", _after_rollback)
    _installed = True


def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)


def _after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING_KEY, None)
    for tenant_id, user_id, step_id, name in pending or ():
        enqueue_task(tenant_id, user_id, step_id, name)


STEP_TASK = "app.workflows.tasks.run_step_task"


def enqueue_task(tenant_id: int | None, user_id: int | None, step_id: int, name: str) -> Any:
    """Queue one task of a step, to run as a system job.

    A task is the workflow's side effect of a move it already allowed, not the user's own edit: it
    runs as the county (no capture area, no lock), with the user who moved the case (none for a
    timer's move) for the audit trail.
    """
    from rq import Retry

    from app.core.tenancy import Scope
    from app.jobs.queue import enqueue_in_scope, get_queue

    def _enqueue() -> Any:
        return enqueue_in_scope(
            STEP_TASK, Scope(tenant_id=tenant_id, user_id=user_id), {"step_id": step_id, "name": name},
            retry=Retry(max=MAX_ATTEMPTS - 1, interval=RETRY_INTERVALS),
            meta={"workflow_step": step_id, "task": name},
        )

    if get_queue("default").is_async:
        return _enqueue()
    with current_app.app_context():  # inline: the job's session must not be the committing one
        return _enqueue()


# -- worker side -------------------------------------------------------------------------------

def run_task(tenant_id: int, user_id: int | None, step_id: int, name: str) -> str:
    """A task run by hand, or queued by an earlier version: through the job wrapper, like a queued one."""
    from app.jobs.queue import run_in_tenant

    kwargs = {"step_id": step_id, "name": name}
    if not has_app_context():
        return str(run_in_tenant(STEP_TASK, tenant_id, user_id, kwargs))
    with current_app.app_context():  # a session of its own, not the caller's
        return str(run_in_tenant(STEP_TASK, tenant_id, user_id, kwargs))


def run_step_task(step_id: int, name: str) -> str:
    """Job body (in the scope the job carries). Inline (no Redis) it retries itself; with a worker RQ's
    ``Retry`` does."""
    inline = not current_app.extensions["countydesk_queues"]["default"].is_async
    attempts = MAX_ATTEMPTS if inline else 1
    for attempt in range(attempts):
        try:
            return _run_once(step_id, name)
        except Exception:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _run_once(step_id: int, name: str) -> str:
    from app.core.tenancy import current_scope
    from app.extensions import db
    from app.workflows.models import WorkflowInstance, WorkflowStep

    scope = current_scope()
    if scope is None or scope.tenant_id is None:
        raise LookupError("流程任务没有所属的县，无法执行")
    # Its own session: this may run inside the committing session's after_commit (inline).
    with Session(db.engine) as session:
        step = session.scalars(select(WorkflowStep).where(WorkflowStep.id == step_id)
                               .with_for_update()).first()
        if step is None:
            return "missing"
        state = dict((step.tasks or {}).get(name) or {})
        if state.get("status") == "done":
            return "done already"
        instance = session.get(WorkflowInstance, step.instance_id)
        handler = task_handlers().get(name)
        try:
            if handler is None:
                raise LookupError(f"没有注册名为「{name}」的任务处理程序")
            handler(TaskContext(session, scope.tenant_id, scope.user_id, instance, step, name))
            _mark(step, name, state, "done", None)
            session.commit()
            return "done"
        except Exception as exc:
            session.rollback()
            log.warning("workflow task %s of step %s failed: %s", name, step_id, exc)
            _record_failure(step_id, name, f"{type(exc).__name__}: {exc}")
            raise


def _mark(step: Any, name: str, state: dict[str, Any], status: str, error: str | None) -> None:
    tasks = dict(step.tasks or {})
    tasks[name] = {**state, "status": status, "attempts": int(state.get("attempts", 0)) + 1, "error": error,
                   "at": clock.server_now().replace(microsecond=0).isoformat()}
    step.tasks = tasks


def _record_failure(step_id: int, name: str, error: str) -> None:
    from app.extensions import db
    from app.workflows.models import WorkflowStep

    with Session(db.engine) as session:
        step = session.scalars(select(WorkflowStep).where(WorkflowStep.id == step_id).with_for_update()).first()
        if step is None:
            return
        _mark(step, name, dict((step.tasks or {}).get(name) or {}), "failed", error[:500])
        session.commit()


def failed_tasks(step: Any) -> dict[str, Any]:
    return {n: s for n, s in (step.tasks or {}).items() if s.get("status") == "failed"}

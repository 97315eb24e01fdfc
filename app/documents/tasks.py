"""Import as a background job: one job per uploaded file, the handler named by a dotted path.

The job runs in the whole scope of the user who queued it (``run_in_tenant``: area, read-only, roles,
so the same checks as on a screen) and reads the upload from that tenant's folder only; its result
(counts and the first problems) is what the job screen shows.
"""

from __future__ import annotations

import importlib
from typing import Any

from app.jobs.queue import enqueue, report_progress


def make_handler(factory: str, args: dict[str, Any] | None = None) -> Any:
    module_name, _, attr = factory.rpartition(".")
    return getattr(importlib.import_module(module_name), attr)(**(args or {}))


def import_file(factory: str, upload_id: str, dry_run: bool = True, handler_args: dict[str, Any] | None = None,
                upload_root: str | None = None) -> dict[str, Any]:
    """Job body: parse and check the tenant's upload, then dry-run or commit it."""
    from app.documents.importer import run_import
    from app.documents.uploads import upload_path

    handler = make_handler(factory, handler_args)
    result = run_import(handler, upload_path(upload_id, upload_root), dry_run=dry_run, progress=report_progress)
    summary = result.to_dict()
    summary["title"] = str(getattr(handler, "title", ""))
    summary["upload_id"] = upload_id
    return summary


def enqueue_import(factory: str, upload_id: str, *, dry_run: bool, tenant_id: int | None,
                   user_id: int | None = None, handler_args: dict[str, Any] | None = None) -> Any:
    """Queue an import of an uploaded file; ``factory`` builds the RowHandler (dotted path)."""
    from app.documents.uploads import upload_root

    return enqueue("app.documents.tasks.import_file", tenant_id=tenant_id, user_id=user_id, queue="long",
                   factory=factory, upload_id=upload_id, dry_run=dry_run, handler_args=handler_args or {},
                   upload_root=str(upload_root()))

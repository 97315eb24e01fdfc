"""Background jobs: recompute staffing quotas for one tenant or for every tenant.

A job is a batch (a tenant's or the country's period), never a row; progress goes to
``job.meta`` in three steps (prepare, compute and save, summary).
"""

from __future__ import annotations

from typing import Any

from app.jobs.queue import enqueue, report_progress


def recompute(period: str, all_tenants: bool = False, strict: bool = False) -> dict[str, Any]:
    """Job body: runs in the scope the job carries, its starter's (``run_in_tenant``)."""
    from app.staffing.quotas import recompute_all_tenants, recompute_quotas

    run = recompute_all_tenants if all_tenants else recompute_quotas
    report = run(period, strict=strict, progress=report_progress)
    return {"period": report.period, "rows": report.rows, "rollup_rows": report.rollup_rows,
            "null_count": report.null_count, "summary": report.summary(),
            "null_quotas": [vars(n) for n in report.null_quotas],
            "bad_rules": [vars(b) for b in report.bad_rules]}


def enqueue_recompute(period: str, *, tenant_id: int | None, user_id: int | None = None,
                      all_tenants: bool = False, strict: bool = False) -> Any:
    """Queue a recompute: ``tenant_id`` for one county, or ``all_tenants=True`` (then ``tenant_id`` None)."""
    if all_tenants == (tenant_id is not None):
        raise ValueError("give either tenant_id or all_tenants=True")
    return enqueue("app.staffing.tasks.recompute", tenant_id=tenant_id, user_id=user_id, queue="long",
                   period=period, all_tenants=all_tenants, strict=strict)

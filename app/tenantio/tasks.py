"""Background job: load a tenant folder (used by the admin screens and scripts for big folders)."""

from __future__ import annotations

from typing import Any

from app.jobs.queue import report_progress


def load_folder(folder: str) -> dict[str, Any]:
    from app.tenantio.loader import load_tenant_folder

    report_progress(0, 2, "校验租户目录")
    report = load_tenant_folder(folder)
    report_progress(2, 2, report.summary())
    return {"slug": report.slug, "tenant_id": report.tenant_id, "summary": report.summary()}

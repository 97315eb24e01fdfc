"""``workflows:`` in tenant.yaml: validated with the folder, versioned on change, cases keep their version."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.core.models import Tenant
from app.core.tenancy import tenant_context
from app.extensions import db
from app.tenantio.loader import load_tenant_folder
from app.tenantio.problems import TenantFolderInvalid
from app.workflows import services
from app.workflows.models import WorkflowDefinition


def _versions(slug: str) -> dict[str, list[int]]:
    tenant_id = db.session.scalar(select(Tenant.id).where(Tenant.slug == slug))
    with tenant_context(tenant_id):
        rows = db.session.execute(select(WorkflowDefinition.code, WorkflowDefinition.version)
                                  .order_by(WorkflowDefinition.code, WorkflowDefinition.version)).all()
    out: dict[str, list[int]] = {}
    for code, version in rows:
        out.setdefault(code, []).append(version)
    return out


def test_loading_twice_keeps_one_version_and_a_change_adds_one(app, demo, copy_tenant):
    folder = copy_tenant("shishi", "ss_wf_load")
    with app.app_context():
        load_tenant_folder(folder)
        assert _versions("ss_wf_load") == {"appraisal": [1], "recruitment": [1]}
        assert load_tenant_folder(folder).changed is False
        path = folder / "workflows" / "recruitment.yaml"
        path.write_text(path.read_text(encoding="utf-8").replace("duration_days: 7", "duration_days: 10"),
                        encoding="utf-8")
        load_tenant_folder(folder)
        assert _versions("ss_wf_load") == {"appraisal": [1], "recruitment": [1, 2]}
        tenant_id = db.session.scalar(select(Tenant.id).where(Tenant.slug == "ss_wf_load"))
        with tenant_context(tenant_id):
            assert services.load_definition("recruitment").state("publicity").timer.duration_days == 10
            assert services.load_definition("recruitment", 1).state("publicity").timer.duration_days == 7
        db.session.remove()


def test_a_bad_workflow_file_rejects_the_folder_with_located_problems(app, demo, copy_tenant):
    folder = copy_tenant("shishi", "ss_wf_bad")
    path = folder / "workflows" / "appraisal.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("to: final,", "to: finished,").replace('deadline: "11-15"', 'deadline: "11-31"'),
                    encoding="utf-8")
    with app.app_context(), pytest.raises(TenantFolderInvalid) as info:
        load_tenant_folder(folder)
    messages = [str(p) for p in info.value.problems]
    assert any("workflows/appraisal.yaml" in m and "未知状态「finished」" in m for m in messages)
    assert any("workflows/appraisal.yaml" in m and "11-31" in m for m in messages)
    with app.app_context():
        assert db.session.scalar(select(Tenant.id).where(Tenant.slug == "ss_wf_bad")) is None


def test_a_missing_workflow_file_and_an_unknown_task_are_reported(app, demo, copy_tenant):
    folder = copy_tenant("shishi", "ss_wf_missing")
    cfg = folder / "tenant.yaml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("workflows/appraisal.yaml", "workflows/nope.yaml"),
                   encoding="utf-8")
    rec = folder / "workflows" / "recruitment.yaml"
    rec.write_text(rec.read_text(encoding="utf-8").replace("tasks: [create_appointment]", "tasks: [send_fax]"),
                   encoding="utf-8")
    with app.app_context(), pytest.raises(TenantFolderInvalid) as info:
        load_tenant_folder(folder)
    messages = [str(p) for p in info.value.problems]
    assert any("流程文件「workflows/nope.yaml」不存在" in m for m in messages)
    assert any("未知任务「send_fax」" in m for m in messages)

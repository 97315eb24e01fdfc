"""Job status page: progress bar and poller JSON, import problems as a table, commit, county isolation."""

from __future__ import annotations

import io
import re
import shutil
from typing import Any

import pytest
from flask.testing import FlaskClient
from rq.job import Job
from sqlalchemy import select

from app.core.tenancy import tenant_context
from app.core.xlsx_export import write_xlsx
from app.extensions import db
from app.jobs.queue import wait_for
from app.orgs.models import OrgUnit, PopulationFact
from support import PASSWORD, TENANTS, login

HEADER = ["单位代码", "期间", "户籍人口"]


@pytest.fixture(scope="module")
def county(app, demo, tmp_path_factory) -> dict[str, Any]:
    """A copy of Shishi with its own admin, so committed imports do not touch the demo data."""
    from app.security.services import add_user
    from app.tenantio.loader import load_tenant_folder

    folder = tmp_path_factory.mktemp("jobs") / "ss_jobs"
    shutil.copytree(TENANTS / "shishi", folder)
    cfg = folder / "tenant.yaml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("slug: shishi", "slug: ss_jobs"), encoding="utf-8")
    with app.app_context():
        tenant_id = load_tenant_folder(folder).tenant_id
        add_user("ssj_admin", role="county_admin", password=PASSWORD, tenant_slug="ss_jobs")
        db.session.remove()
    return {"tenant_id": tenant_id}


def _xlsx(rows: list[list[str]], header: list[str] = HEADER) -> io.BytesIO:
    return io.BytesIO(write_xlsx([(h, i) for i, h in enumerate(header)], rows))


def _upload(client: FlaskClient, data: io.BytesIO, name: str = "人口.xlsx") -> str:
    resp = client.post("/documents/import/population", data={"file": (data, name)},
                       content_type="multipart/form-data")
    assert resp.status_code == 302, resp.get_data(as_text=True)
    match = re.search(r"/jobs/([0-9a-f-]+)$", resp.headers["Location"])
    assert match, resp.headers["Location"]
    return match.group(1)


def _finish(app, job_id: str) -> None:
    with app.app_context():
        job = Job.fetch(job_id, connection=app.extensions["countydesk_redis"])
        assert wait_for(job) == "finished", job.latest_result()


def _registered_pop(app, tenant_id: int, code: str, period: str) -> int | None:
    with app.app_context(), tenant_context(tenant_id):
        value = db.session.scalar(select(PopulationFact.registered_pop).join(OrgUnit)
                                  .where(OrgUnit.code == code, PopulationFact.period == period))
        db.session.remove()
        return value


def test_import_dry_run_page_then_commit_writes_once(app, county, client):
    login(client, "ssj_admin")
    page = client.get("/documents/import/population").get_data(as_text=True)
    assert "下载导入模板" in page and "上传并试导入" in page
    template = client.get("/documents/import/population/template.xlsx")
    assert template.status_code == 200 and "ss_jobs-" in template.headers["Content-Disposition"]

    job_id = _upload(client, _xlsx([["350581001001", "2030", "1234"], ["350581001002", "2030", "567"]]))
    _finish(app, job_id)
    status = client.get(f"/jobs/{job_id}/status.json").get_json()
    assert status["status"] == "finished" and status["percent"] == 100 and status["label"] == "已完成"
    assert status["result"]["dry_run"] is True and status["result"]["new"] == 2
    assert "试导入通过" in status["message"]
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert 'id="cd-job-bar"' in page and "100%" in page and "确认导入" in page
    assert _registered_pop(app, county["tenant_id"], "350581001001", "2030") is None  # dry run wrote nothing

    commit = client.post(f"/jobs/{job_id}/commit")
    assert commit.status_code == 302
    commit_id = commit.headers["Location"].rsplit("/", 1)[-1]
    assert commit_id != job_id
    _finish(app, commit_id)
    result = client.get(f"/jobs/{commit_id}/status.json").get_json()["result"]
    assert result["committed"] is True and (result["new"], result["changed"], result["unchanged"]) == (2, 0, 0)
    assert _registered_pop(app, county["tenant_id"], "350581001001", "2030") == 1234
    assert "确认导入" not in client.get(f"/jobs/{commit_id}").get_data(as_text=True)
    assert client.post(f"/jobs/{commit_id}/commit").status_code == 404  # only a dry run can be confirmed

    rerun = _upload(client, _xlsx([["350581001001", "2030", "1234"], ["350581001002", "2030", "567"]]))
    _finish(app, rerun)
    again = client.get(f"/jobs/{rerun}/status.json").get_json()["result"]
    assert (again["new"], again["changed"], again["unchanged"]) == (0, 0, 2)


def test_import_problems_show_as_a_table_and_cannot_be_committed(app, county, client):
    login(client, "ssj_admin")
    job_id = _upload(client, _xlsx([["350581001001", "2031", "<img src=x onerror=alert(1)>"],
                                    ["000", "2031", "5"]]))
    _finish(app, job_id)
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert 'id="cd-import-problems"' in page
    for head in ("<th>行</th>", "<th>列</th>", "<th>值</th>", "<th>原因</th>"):
        assert head in page
    assert "应为非负整数" in page and "本县没有这个单位代码" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "确认导入" not in page
    assert client.post(f"/jobs/{job_id}/commit").status_code == 404


def test_progress_of_a_running_job_is_polled_as_json(app, demo, client):
    from app.security.models import CountyUser

    with app.app_context():
        owner = db.session.scalar(select(CountyUser.id).where(CountyUser.username == "ss_town"))
        job = Job.create("app.jobs.queue.run_in_tenant", args=("x.y", demo["tenant_ids"]["shishi"], owner, {}),
                         connection=app.extensions["countydesk_redis"],
                         meta={"tenant_id": demo["tenant_ids"]["shishi"], "user_id": owner, "done": 3, "total": 12,
                               "message": "已检查 3/12 行"})
        job.save()
    login(client, "ss_town")
    status = client.get(f"/jobs/{job.id}/status.json").get_json()
    assert (status["done"], status["total"], status["percent"]) == (3, 12, 25)
    assert status["finished"] is False and status["message"] == "已检查 3/12 行"
    page = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert "width: 25%" in page and "status.json" in page and "XMLHttpRequest" in page


def test_a_guanling_user_cannot_see_or_commit_a_shishi_job(app, demo, client):
    with app.app_context():
        job = Job.create("app.jobs.queue.run_in_tenant", args=("x.y", demo["tenant_ids"]["shishi"], None, {}),
                         connection=app.extensions["countydesk_redis"],
                         meta={"tenant_id": demo["tenant_ids"]["shishi"], "message": "石狮的任务"})
        job.save()
    login(client, "gl_admin")
    for resp in (client.get(f"/jobs/{job.id}"), client.get(f"/jobs/{job.id}/status.json"),
                 client.post(f"/jobs/{job.id}/commit")):
        assert resp.status_code == 404
        body = resp.get_data(as_text=True)
        assert "任务不存在" in body and "石狮的任务" not in body
    assert client.get("/jobs/no-such-job").status_code == 404
    shishi = login(app.test_client(), "ss_admin")
    assert shishi.get(f"/jobs/{job.id}").status_code == 200


def test_jobs_without_a_county_are_hidden_from_county_users(app, demo, client):
    with app.app_context():
        job = Job.create("app.jobs.queue.run_in_tenant", args=("x.y", None, None, {}),
                         connection=app.extensions["countydesk_redis"], meta={"tenant_id": None})
        job.save()
    login(client, "ss_admin")
    assert client.get(f"/jobs/{job.id}/status.json").status_code == 404


def test_upload_and_commit_forms_need_the_csrf_token(app, county, client):
    login(client, "ssj_admin")
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        refused = client.post("/documents/import/population", data={"file": (_xlsx([]), "x.xlsx")},
                              content_type="multipart/form-data")
        assert refused.status_code == 400 and "CSRF 校验失败" in refused.get_data(as_text=True)
        page = client.get("/documents/import/population").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token
        resp = client.post("/documents/import/population", content_type="multipart/form-data",
                           data={"file": (_xlsx([["350581001001", "2032", "1"]]), "x.xlsx"),
                                 "csrf_token": token.group(1)})
        assert resp.status_code == 302
        job_id = resp.headers["Location"].rsplit("/", 1)[-1]
        _finish(app, job_id)
        assert client.post(f"/jobs/{job_id}/commit").status_code == 400
        assert _registered_pop(app, county["tenant_id"], "350581001001", "2032") is None
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def test_a_failed_job_shows_its_chinese_reason_not_a_traceback(app, county, client):
    from app.documents.tasks import enqueue_import

    with app.app_context():
        job = enqueue_import("app.documents.population_import.PopulationImport", "0" * 32 + ".csv",
                             dry_run=True, tenant_id=county["tenant_id"])
        assert wait_for(job) == "failed"
    login(client, "ssj_admin")
    status = client.get(f"/jobs/{job.id}/status.json").get_json()
    assert status["status"] == "failed" and status["message"] == "任务失败：上传的文件不存在"
    page = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert "上传的文件不存在" in page and "Traceback" not in page and "progress-bar-danger" in page

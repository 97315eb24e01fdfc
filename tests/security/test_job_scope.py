"""A job runs with the whole user who started it, and belongs to that user.

Imports run as jobs: a town clerk's form import and a village worker's population import are held
to the same area and period locks as their screens; only the owner (and the county's admin) may
open a job's page, poll it or commit it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from sqlalchemy import select

from app.core.tenancy import Scope, scope_context, tenant_context
from app.extensions import db
from app.forms.models import FormRecord
from app.jobs.queue import enqueue, wait_for
from app.orgs.models import OrgUnit, PopulationFact
from support import login

MONTHLY = "rkjs_monthly"
FORM_HEADER = ["单位代码", "单位名称", "期间", "户籍人口", "计生常住人口", "已婚育龄妇女数", "出生人数",
               "其中政策内出生人数", "死亡人数"]
TODAY = dt.date(2025, 6, 1)
OPEN, LOCKED = "2025-05", "2025-03"  # on TODAY: May is still open, March locked since 15 April
POP_PERIOD = "2039"


def _csv(header: list[str], rows: list[list[Any]]) -> io.BytesIO:
    out = io.StringIO()
    csv.writer(out).writerows([header, *rows])
    return io.BytesIO(out.getvalue().encode("utf-8"))


def _units(app, tenant_id: int) -> dict[str, Any]:
    with app.app_context(), tenant_context(tenant_id):
        rows = db.session.execute(select(OrgUnit.code, OrgUnit.name, OrgUnit.path, OrgUnit.level)).all()
        db.session.remove()
    return {r.code: r for r in rows}


def _villages(units: dict[str, Any], town: str) -> list[Any]:
    prefix = units[town].path
    return sorted((u for u in units.values() if u.level == "village" and u.path.startswith(prefix)),
                  key=lambda u: u.code)


def _job_result(app, client, location: str) -> dict[str, Any]:
    from rq.job import Job

    job_id = location.rstrip("/").rsplit("/", 1)[-1]
    with app.app_context():
        assert wait_for(Job.fetch(job_id, connection=app.extensions["countydesk_redis"])) == "finished"
    status = client.get(f"/jobs/{job_id}/status.json")
    assert status.status_code == 200
    result: dict[str, Any] = status.get_json()["result"]
    return result


@pytest.fixture
def shishi(app, demo) -> dict[str, Any]:
    return {"tenant_id": demo["tenant_ids"]["shishi"], "units": _units(app, demo["tenant_ids"]["shishi"])}


@pytest.fixture
def frozen_today(monkeypatch):
    monkeypatch.setattr("app.forms.io_import.local_today", lambda *a, **k: TODAY)
    return TODAY


@pytest.fixture
def no_records(app, shishi):
    yield
    with app.app_context(), tenant_context(shishi["tenant_id"]):
        db.session.query(FormRecord).filter(FormRecord.form_code == MONTHLY,
                                            FormRecord.period.in_((OPEN, LOCKED))).delete()
        db.session.commit()
        db.session.remove()


def _records(app, tenant_id: int) -> list[tuple[str, str]]:
    with app.app_context(), tenant_context(tenant_id):
        rows = db.session.execute(select(OrgUnit.code, FormRecord.period).join(OrgUnit)
                                  .where(FormRecord.form_code == MONTHLY, FormRecord.period.in_((OPEN, LOCKED)))
                                  .order_by(OrgUnit.code, FormRecord.period)).all()
        db.session.remove()
    return [tuple(r) for r in rows]


def test_a_job_runs_in_exactly_the_scope_it_was_started_in(app, shishi):
    tenant_id = shishi["tenant_id"]
    clerk = Scope(tenant_id=tenant_id, user_id=4242, capture_path=shishi["units"]["350581001"].path,
                  read_only=False, roles=("town_clerk",))
    with app.app_context():
        with scope_context(clerk):
            job = enqueue("support.scope_probe", tenant_id=tenant_id, user_id=4242)
        assert wait_for(job) == "finished", job.latest_result()
        seen = job.return_value()
        assert Scope.from_dict(seen["scope"]) == clerk
        assert seen["db_tenant"] in (None, str(tenant_id))  # PostgreSQL's row-level security follows
        assert (job.meta["tenant_id"], job.meta["user_id"]) == (tenant_id, 4242)
        # started with no user in scope (CLI, scheduler): the system acting for the county, as before
        bare = enqueue("support.scope_probe", tenant_id=tenant_id, user_id=None)
        assert wait_for(bare) == "finished"
        assert Scope.from_dict(bare.return_value()["scope"]) == Scope(tenant_id=tenant_id)


def test_town_clerk_form_import_job_refuses_other_towns_and_locked_periods(app, shishi, frozen_today, no_records):
    units, tenant_id = shishi["units"], shishi["tenant_id"]
    own, other = _villages(units, "350581001"), _villages(units, "350581002")
    rows = [[own[0].code, own[0].name, OPEN, 3000, 3200, 600, 4, 4, 2],
            [own[1].code, own[1].name, LOCKED, 3000, 3200, 600, 4, 4, 2],
            [other[0].code, other[0].name, OPEN, 3000, 3200, 600, 4, 4, 2]]
    clerk = login(app.test_client(), "ss_town")
    resp = clerk.post(f"/forms/{MONTHLY}/import", data={"file": (_csv(FORM_HEADER, rows), "月报.csv"), "dry_run": "0"},
                      content_type="multipart/form-data")
    assert resp.status_code == 302, resp.get_data(as_text=True)
    result = _job_result(app, clerk, resp.headers["Location"])
    whys = [p["why"] for p in result["problems"]]
    assert not result["ok"] and not result.get("committed")
    assert any("锁定" in w for w in whys) and any("不在您的辖区内" in w for w in whys), whys
    assert _records(app, tenant_id) == []

    admin = login(app.test_client(), "ss_admin")  # the county admin's same file writes the locked period too
    resp = admin.post(f"/forms/{MONTHLY}/import", data={"file": (_csv(FORM_HEADER, rows), "月报.csv"), "dry_run": "0"},
                      content_type="multipart/form-data")
    result = _job_result(app, admin, resp.headers["Location"])
    assert result["ok"] and result["committed"], result["problems"]
    assert _records(app, tenant_id) == sorted([(own[0].code, OPEN), (own[1].code, LOCKED), (other[0].code, OPEN)])


def test_village_worker_population_import_job_refuses_another_village(app, shishi):
    units, tenant_id = shishi["units"], shishi["tenant_id"]
    own, sibling = _villages(units, "350581001")[:2]  # the demo village worker has the town's first village
    worker = login(app.test_client(), "ss_village")
    header = ["单位代码", "期间", "户籍人口"]
    resp = worker.post("/documents/import/population", content_type="multipart/form-data",
                       data={"file": (_csv(header, [[own.code, POP_PERIOD, 11], [sibling.code, POP_PERIOD, 12]]),
                                      "人口.csv")})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    result = _job_result(app, worker, resp.headers["Location"])
    assert not result["ok"] and [p["why"] for p in result["problems"]] == ["无权修改辖区以外的数据"]
    # control: the own village alone passes the same check
    resp = worker.post("/documents/import/population", content_type="multipart/form-data",
                       data={"file": (_csv(header, [[own.code, POP_PERIOD, 11]]), "人口.csv")})
    assert _job_result(app, worker, resp.headers["Location"])["ok"]
    with app.app_context(), tenant_context(tenant_id):
        assert db.session.scalars(select(PopulationFact).where(PopulationFact.period == POP_PERIOD)).all() == []
        db.session.remove()


def test_a_job_is_seen_and_committed_only_by_its_owner_and_the_county_admin(app, shishi):
    own = _villages(shishi["units"], "350581001")[0]
    owner = login(app.test_client(), "ss_town")
    resp = owner.post("/documents/import/population", content_type="multipart/form-data",
                      data={"file": (_csv(["单位代码", "期间", "户籍人口"], [[own.code, POP_PERIOD, 5]]), "人口.csv")})
    job_url = resp.headers["Location"]
    assert _job_result(app, owner, job_url)["ok"]
    assert owner.get(job_url).status_code == 200
    for username in ("ss_village", "gl_admin", "gl_town"):
        other = login(app.test_client(), username)
        for answer in (other.get(job_url), other.get(f"{job_url}/status.json"), other.post(f"{job_url}/commit")):
            assert answer.status_code == 404, (username, answer.request.path)
            assert "任务不存在" in answer.get_data(as_text=True)
    admin = login(app.test_client(), "ss_admin")
    assert admin.get(job_url).status_code == 200
    assert admin.get(f"{job_url}/status.json").get_json()["result"]["ok"]
    with app.app_context(), tenant_context(shishi["tenant_id"]):
        assert db.session.scalars(select(PopulationFact).where(PopulationFact.period == POP_PERIOD)).all() == []
        db.session.remove()

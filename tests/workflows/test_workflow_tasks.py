"""Side-effect tasks: enqueued after commit only, idempotent, retried, failures visible; SS-3 hiring."""

from __future__ import annotations

import datetime as dt

import fakeredis
import pytest
from rq import Queue
from sqlalchemy import select, update
from wf_support import as_user, person_under

from app.extensions import db
from app.hooks.hookspecs import hookimpl
from app.workflows import services
from app.workflows.models import WorkflowDefinition, WorkflowInstance, WorkflowStep
from app.workflows.tasks import run_task
from support import login

VILLAGE = "350581001001"
CALLS: list[tuple[int, str]] = []
FAIL_TIMES = {"n": 0}


def probe(ctx) -> None:
    # Runs after commit: the step is visible from the handler's own session.
    assert ctx.session.get(WorkflowStep, ctx.step.id) is not None
    if FAIL_TIMES["n"] > 0:
        FAIL_TIMES["n"] -= 1
        raise RuntimeError("短信网关不可用")
    CALLS.append((ctx.step.id, ctx.key))


class ProbePack:
    @hookimpl
    def countydesk_register_task_handlers(self):
        return {"probe": probe}


SPEC = {
    "code": "t_tasks", "name": "任务测试", "subject": "person",
    "states": [{"code": "a", "label": "甲"}, {"code": "b", "label": "乙", "final": True}],
    "transitions": [{"action": "go", "label": "前进", "from": "a", "to": "b", "who": {"role": "county_admin"},
                     "tasks": ["probe"]}],
}


@pytest.fixture
def probe_pack(app, wf, monkeypatch):
    """The probe handler registered like a plugin; jobs inline (the worker process has no probe)."""
    pm = app.extensions["countydesk_plugins"]
    pm.register(ProbePack(), name="probe-pack")
    app.extensions.pop("countydesk_task_handlers", None)
    conn = fakeredis.FakeRedis()
    monkeypatch.setitem(app.extensions, "countydesk_queues",
                        {n: Queue(n, connection=conn, is_async=False) for n in ("default", "long")})
    CALLS.clear()
    FAIL_TIMES["n"] = 0
    with app.app_context(), as_user("ss_admin"):
        if not db.session.scalar(select(WorkflowDefinition.id).where(WorkflowDefinition.code == "t_tasks")):
            db.session.add(WorkflowDefinition(code="t_tasks", version=1, name="任务测试", spec=SPEC))
            db.session.commit()
    yield
    pm.unregister(name="probe-pack")
    app.extensions.pop("countydesk_task_handlers", None)


def _case(admin) -> int:
    return services.start("t_tasks", actor=admin, person_id=person_under(VILLAGE)).id


def test_countydesk_register_task_handlers_hook_adds_a_handler(app, probe_pack):
    from app.workflows.tasks import task_handlers

    with app.app_context():
        assert {"probe", "notify", "create_appointment"} <= set(task_handlers())


def test_task_is_enqueued_after_commit_only(app, probe_pack):
    with app.app_context(), as_user("ss_admin") as admin:
        inst_id = _case(admin)
        services.act(inst_id, "go", actor=admin, commit=False)
        assert CALLS == []  # inside the transaction: nothing enqueued yet
        db.session.rollback()
        assert CALLS == []  # rolled back: nothing ever enqueued
        assert db.session.get(WorkflowInstance, inst_id).state == "a"
        db.session.commit()
        assert CALLS == []
        step = services.act(inst_id, "go", actor=admin).step
        assert [c[0] for c in CALLS] == [step.id]
        db.session.expire_all()
        assert db.session.get(WorkflowStep, step.id).tasks["probe"]["status"] == "done"


def test_task_is_idempotent_on_a_second_run(app, probe_pack):
    with app.app_context(), as_user("ss_admin") as admin:
        step = services.act(_case(admin), "go", actor=admin).step
        tenant_id = step.tenant_id
        assert run_task(tenant_id, admin.user_id, step.id, "probe") == "done already"
        assert len(CALLS) == 1


def test_failing_task_is_retried_and_its_failure_is_visible(app, probe_pack):
    with app.app_context(), as_user("ss_admin") as admin:
        FAIL_TIMES["n"] = 1  # fails once, then the retry succeeds
        step = services.act(_case(admin), "go", actor=admin).step
        db.session.expire_all()
        state = db.session.get(WorkflowStep, step.id).tasks["probe"]
        assert state["status"] == "done" and state["attempts"] == 2 and len(CALLS) == 1

        FAIL_TIMES["n"] = 99  # keeps failing: the case stays consistent, the failure is stored
        inst_id = _case(admin)
        step = services.act(inst_id, "go", actor=admin).step
        db.session.expire_all()
        state = db.session.get(WorkflowStep, step.id).tasks["probe"]
        assert state["status"] == "failed" and state["attempts"] == 3
        assert "短信网关不可用" in state["error"]
        assert db.session.get(WorkflowInstance, inst_id).state == "b"
    page = login(app.test_client(), "ss_admin").get(f"/workflows/case/{inst_id}").get_data(as_text=True)
    assert "后续任务失败" in page and "短信网关不可用" in page  # visible to the county admin
    page = login(app.test_client(), "ss_town").get(f"/workflows/case/{inst_id}").get_data(as_text=True)
    assert "短信网关不可用" not in page


def test_ss3_hiring_creates_the_appointment_with_a_3_year_term_once(app, wf, monkeypatch):
    from app.staffing.models import Appointment

    conn = fakeredis.FakeRedis()
    monkeypatch.setitem(app.extensions, "countydesk_queues",
                        {n: Queue(n, connection=conn, is_async=False) for n in ("default", "long")})
    with app.app_context():
        with as_user("ss_town") as town:
            person_id = person_under("350581001", 1)
            inst = services.start("recruitment", actor=town, person_id=person_id, data={"position_code": "XGY"})
            inst_id = inst.id
            db.session.execute(update(WorkflowInstance).where(WorkflowInstance.id == inst_id)
                               .values(state="approval_form", last_user_id=None))
            db.session.commit()
            services.act(inst_id, "fill_form", actor=town, comment="聘用审批表已填")
            services.act(inst_id, "labour_opinion", actor=town)
            services.act(inst_id, "town_approve", actor=town)
        with as_user("ss_admin") as admin:  # SS-3: the term runs from the last of the three departments' approval
            for party in ("卫健局", "人社局"):
                services.act(inst_id, "hire", actor=admin, party=party, now=dt.datetime(2026, 3, 1, 10))
            step = services.act(inst_id, "hire", actor=admin, party="计生协会", now=dt.datetime(2026, 3, 2, 10)).step
            rows = db.session.scalars(select(Appointment).where(Appointment.person_id == person_id,
                                                                Appointment.start_date == dt.date(2026, 3, 2))).all()
            assert [(a.position_code, a.end_date, a.status) for a in rows] == [("XGY", dt.date(2029, 3, 1), "active")]
            db.session.execute(update(WorkflowStep).where(WorkflowStep.id == step.id).values(tasks={}))
            db.session.commit()
            run_task(step.tenant_id, admin.user_id, step.id, "create_appointment")  # a duplicate run
            assert db.session.scalars(select(Appointment).where(Appointment.person_id == person_id,
                                      Appointment.start_date == dt.date(2026, 3, 2))).all() == rows

"""Every workflow test starts with no cases, and appointments a test's hiring created are removed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select
from wf_support import wipe_workflow_rows


@pytest.fixture
def wf(app, demo) -> Iterator[dict]:
    from app.extensions import db
    from app.staffing.models import Appointment

    with app.app_context():
        wipe_workflow_rows()
        with db.engine.connect() as conn:
            last = conn.execute(select(func.max(Appointment.__table__.c.id))).scalar() or 0
    yield demo
    with app.app_context():
        wipe_workflow_rows()
        with db.engine.begin() as conn:
            conn.execute(delete(Appointment.__table__).where(Appointment.__table__.c.id > last))
        db.session.remove()


@pytest.fixture
def people(app, wf, monkeypatch) -> Iterator[list[int]]:
    """Ids of people this test created (removed afterwards with their cases and appointments).

    Side effects (create_appointment) run inline, so a test sees the appointment at once.
    """
    import fakeredis
    from rq import Queue

    from app.extensions import db
    from app.staffing.models import Appointment, Person

    conn = fakeredis.FakeRedis()
    monkeypatch.setitem(app.extensions, "countydesk_queues",
                        {n: Queue(n, connection=conn, is_async=False) for n in ("default", "long")})
    made: list[int] = []
    yield made
    with app.app_context():
        wipe_workflow_rows()  # cases first: PostgreSQL enforces their person foreign key
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(delete(Appointment.__table__).where(Appointment.__table__.c.person_id.in_(made)))
        conn.execute(delete(Person.__table__).where(Person.__table__.c.id.in_(made)))


PROBE_FILE = Path(__file__).with_name("engine_probe.yaml")


@pytest.fixture
def probe(app, wf) -> Iterator[str]:
    """The engine tests' own process (``engine_probe.yaml``) stored for Shishi for one test, then removed.

    Generic engine behaviour (bulk, self-approval, concurrency, returns) is tested on this fixed shape,
    so a county changing its recruitment steps does not change what those tests mean.
    """
    import yaml
    from wf_support import as_user

    from app.extensions import db
    from app.workflows.models import WorkflowDefinition, WorkflowInstance

    spec = yaml.safe_load(PROBE_FILE.read_text(encoding="utf-8"))
    with app.app_context(), as_user("ss_admin"):
        db.session.add(WorkflowDefinition(code=spec["code"], version=1, name=spec["name"], spec=spec))
        db.session.commit()
    yield spec["code"]
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(delete(WorkflowInstance.__table__).where(WorkflowInstance.__table__.c.definition_code
                                                              == spec["code"]))
        conn.execute(delete(WorkflowDefinition.__table__).where(WorkflowDefinition.__table__.c.code == spec["code"]))


@pytest.fixture
def bound_admin(app, demo) -> Iterator[str]:
    """A county admin of Shishi who speaks for 人社局 only (removed afterwards)."""
    from app.extensions import db
    from app.security.models import CountyUser
    from app.security.services import add_user
    from support import PASSWORD

    with app.app_context():
        add_user("ss_rsj", role="county_admin", password=PASSWORD, tenant_slug="shishi", party="人社局")
        db.session.remove()
    yield "ss_rsj"
    with app.app_context():
        user = db.session.scalar(select(CountyUser).where(CountyUser.username == "ss_rsj"))
        if user is not None:
            db.session.delete(user)
            db.session.commit()
        db.session.remove()

"""Helpers for the workflow tests: act as a demo user without HTTP, find people, clean up."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
from collections.abc import Iterator
from typing import Any

from sqlalchemy import delete, select

from app.core.tenancy import tenant_context
from app.extensions import db

WORKFLOW_TABLES = ("workflow_notice", "workflow_daily_check", "workflow_vote", "workflow_step", "workflow_instance")


@contextlib.contextmanager
def as_user(username: str) -> Iterator[Any]:
    """Inside an app context: the user's scope (tenant, capture path) and its workflow ``Actor``."""
    from app.security.context import scope_for
    from app.security.models import CountyUser
    from app.workflows.services import actor_for_user

    user = db.session.scalar(select(CountyUser).where(CountyUser.username == username))
    assert user is not None, username
    scope = scope_for(user, None)
    db.session.rollback()
    assert scope is not None
    with tenant_context(scope.tenant_id, user_id=user.id, capture_path=scope.capture_path,
                        read_only=scope.read_only):
        try:
            yield actor_for_user(user)
        finally:
            db.session.rollback()
    db.session.remove()


def person_under(path_prefix_code: str, index: int = 0) -> int:
    """A person living under the org unit with this code (current tenant)."""
    from app.orgs.models import OrgUnit
    from app.staffing.models import Person

    unit = db.session.scalar(select(OrgUnit).where(OrgUnit.code == path_prefix_code))
    assert unit is not None
    ids = db.session.scalars(select(Person.id).join(OrgUnit, OrgUnit.id == Person.org_unit_id)
                             .where(OrgUnit.path.startswith(unit.path)).order_by(Person.id)).all()
    return ids[index]


def org_id(code: str) -> int:
    from app.orgs.models import OrgUnit

    unit_id = db.session.scalar(select(OrgUnit.id).where(OrgUnit.code == code))
    assert unit_id is not None
    return unit_id


GL_VILLAGE = "520424001001"
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_SEQ = itertools.cycle(range(300, 1000))  # people a test makes are removed after it: numbers may come round


def id_number(birth: str, seq: int | None = None, region: str = "350581") -> str:
    """A valid 18-digit 居民身份证号码 (GB 11643 check digit) for ``birth`` (YYYYMMDD) in ``region``."""
    body = f"{region}{birth}{next(_SEQ) if seq is None else seq:03d}"
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, _WEIGHTS, strict=True)) % 11]


def serving(made: list[int], admin: str, village: str, position: str, end: dt.date, *, name: str = "任期人",
            birth: str = "19900101") -> int:
    """A person in ``village`` with an active 3-year appointment ending on ``end`` (id added to ``made``)."""
    from app.orgs.models import OrgUnit
    from app.staffing.models import Appointment, Person

    with as_user(admin):
        unit = db.session.scalar(select(OrgUnit).where(OrgUnit.code == village))
        person = Person(name=name, id_number=id_number(birth, region=village[:6]), education="高中", org_unit=unit)
        db.session.add(Appointment(person=person, position_code=position, org_unit=unit,
                                   start_date=end.replace(year=end.year - 3) + dt.timedelta(days=1), end_date=end,
                                   status="active"))
        db.session.commit()
        made.append(person.id)
        return person.id




def start_gl_vacancy(now: dt.datetime) -> int:
    """GL-3: the town names an acting person for a vacant director post (inside an app context)."""
    from app.workflows import services

    with as_user("gl_town") as town:
        return services.start("vacancy", actor=town, org_unit_id=org_id(GL_VILLAGE), now=now,
                              data={"position_code": "RKZR", "acting_person": "罗代理"}).id


def wipe_workflow_rows() -> None:
    """Remove every case, notice and daily-check mark (all tenants) so counts in a test are its own."""
    from app.workflows.models import (
        WorkflowDailyCheck,
        WorkflowInstance,
        WorkflowNotice,
        WorkflowStep,
        WorkflowVote,
    )

    with db.engine.begin() as conn:
        for model in (WorkflowNotice, WorkflowDailyCheck, WorkflowVote, WorkflowStep, WorkflowInstance):
            conn.execute(delete(model.__table__))
    preclaim_daily_checks()


def preclaim_daily_checks(day: dt.date | None = None) -> None:
    """Mark today's daily checks as done for every county.

    With a real worker its tick runs them for the real today; a test choosing its own dates
    (2040) must not see that run open cases for the demo roster in the middle of the test.
    """
    from app.core.models import Tenant
    from app.workflows.models import WorkflowDailyCheck
    from app.workflows.timers import daily_checks

    day = day or dt.date.today()
    t = WorkflowDailyCheck.__table__
    with db.engine.begin() as conn:
        tenants = conn.execute(select(Tenant.__table__.c.id)).scalars().all()
        rows = [{"tenant_id": tid, "name": check.name, "last_day": day} for tid in tenants for check in daily_checks()]
        conn.execute(delete(t))
        if rows:
            conn.execute(t.insert(), rows)

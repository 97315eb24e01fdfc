"""Every workflow test starts with no cases, and appointments a test's hiring created are removed."""

from __future__ import annotations

from collections.abc import Iterator

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

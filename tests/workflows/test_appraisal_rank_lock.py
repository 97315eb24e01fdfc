"""SS-7 / GL-5: two results confirmed at the same moment are ranked with each other, never past each other.

Each confirmation writes its result and ranks the year again in its own transaction. Without a lock
the later ranking cannot see the earlier, still uncommitted, result, and both end up "last".
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import delete, select
from wf_support import as_user, person_under

from app.extensions import db
from app.staffing.models import Person
from app.workflows.appraisal import rank_period
from app.workflows.appraisal_models import AppraisalResult
from support import is_postgres

SCHEME, PERIOD = "RANK-LOCK", "2031"


def _add(person_id: int, total: float) -> None:
    person = db.session.get(Person, person_id)
    db.session.add(AppraisalResult(person=person, org_unit=person.org_unit, period=PERIOD, scheme=SCHEME,
                                   total=total, grade="合格"))
    db.session.flush()


@pytest.mark.skipif(not is_postgres(), reason="SQLite lets one writer at a time: the two cannot overlap there")
def test_ss7_two_confirmations_at_once_rank_each_other(app, wf):
    with app.app_context(), as_user("ss_admin"):
        top, low, middle = (person_under("350581001", i) for i in range(3))
        _add(top, 80)
        db.session.commit()
    ranked = threading.Event()
    errors: list[Exception] = []

    def first_confirmation() -> None:  # ranks, then holds its transaction open for a moment
        try:
            with app.app_context(), as_user("ss_admin"):
                _add(low, 50)
                rank_period(SCHEME, PERIOD)
                ranked.set()
                time.sleep(1.0)
                db.session.commit()
        except Exception as exc:  # noqa: BLE001 — surfaced in the main thread below
            errors.append(exc)
            ranked.set()

    worker = threading.Thread(target=first_confirmation)
    worker.start()
    try:
        assert ranked.wait(30)
        with app.app_context(), as_user("ss_admin"):  # the second confirmation, while the first is open
            _add(middle, 60)
            rank_period(SCHEME, PERIOD)
            db.session.commit()
    finally:
        worker.join(30)
    assert not errors, errors
    with app.app_context(), as_user("ss_admin"):
        ranks = dict(db.session.execute(select(AppraisalResult.person_id, AppraisalResult.rank_in_county)
                                        .where(AppraisalResult.scheme == SCHEME)).all())
        assert ranks == {top: 1, middle: 2, low: 3}
        db.session.execute(delete(AppraisalResult).where(AppraisalResult.scheme == SCHEME))
        db.session.commit()

"""The menu's 待办事项 (N) counts what the inbox lists: cases to act on and open 督办 notices.

GL-3: when the town misses the 2-month refill, the county's admins get a notice; their menu count
goes up by one until the case moves, and nobody else's does.
"""

from __future__ import annotations

import datetime as dt
import re

from wf_support import as_user, start_gl_vacancy

from app.workflows import services
from app.workflows.inbox_count import waiting_count
from app.workflows.timers import fire_due
from support import login


def _menu_count(app, username: str) -> int:
    html = login(app.test_client(), username).get("/").get_data(as_text=True)
    found = re.search(r"待办事项 \((\d+)\)", html)
    return int(found.group(1)) if found else 0


def test_gl3_missed_refill_notice_counts_in_the_county_menu_until_the_case_moves(app, wf):
    # dates far ahead: the real worker's tick (PostgreSQL/Redis run) fires what is due by the real clock,
    # and must not escalate this case before the test does
    with app.app_context():
        inst_id = start_gl_vacancy(dt.datetime(2040, 12, 31, 9, 0))
    before = {u: _menu_count(app, u) for u in ("gl_admin", "gl_town", "ss_admin")}
    with app.app_context(), as_user("gl_admin"):
        assert fire_due(dt.datetime(2041, 2, 28, 9, 0)).escalated == 1
    after = {u: _menu_count(app, u) for u in ("gl_admin", "gl_town", "ss_admin")}
    assert after == {**before, "gl_admin": before["gl_admin"] + 1}  # the town that missed it is not told
    with app.app_context():
        with as_user("gl_admin") as admin:
            inbox = services.inbox(admin)
            assert waiting_count(admin) == inbox.total + len(inbox.notices)  # the inbox's two lists
        with as_user("gl_town") as town:
            services.act(inst_id, "refill", actor=town, data={"new_person": "韦新"})
    assert _menu_count(app, "gl_admin") < after["gl_admin"]  # the notice closed with the refill
    with app.app_context(), as_user("gl_admin") as admin:
        assert services.inbox(admin).notices == []
        assert waiting_count(admin) == services.inbox(admin).total

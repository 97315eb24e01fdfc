"""SS-5 steps as the seed (选聘程序) words them: what happens after an objection in the 7-day 公示.

"经公示无异议或不影响聘用的候选人" go on to the approval form (附件3); an objection that does affect
hiring ends the case as 未聘用. Both need the reason in writing.
"""

from __future__ import annotations

import pytest
from test_workflow_recruit import SS_VILLAGE, act, after_publicity, make_person, refused, start, state, to_publicity
from wf_support import as_user

from app.core.errors import ScopeDenied
from app.extensions import db
from app.workflows.models import WorkflowStep
from support import login


def _candidate(people: list[int], name: str) -> int:
    pid = make_person(people, "ss_admin", SS_VILLAGE, "19850101", name=name)
    return start("ss_village", "recruitment", pid, position_code="XGY", posts=1)


def test_ss5_objection_not_affecting_hiring_goes_on(app, people):
    with app.app_context():
        inst = _candidate(people, "异议可聘")
        to_publicity(inst)
        assert "必须填写" in refused("ss_admin", inst, "objection_cleared")
        with pytest.raises(ScopeDenied, match="无权办理"):  # the city decides, not the town
            act("ss_town", inst, "objection_cleared", comment="核查不影响")
        assert state(inst) == "publicity"
        assert act("ss_admin", inst, "objection_cleared", comment="反映问题经核查不属实，不影响聘用") == "approval_form"
        with as_user("ss_admin"):
            step = db.session.query(WorkflowStep).filter_by(instance_id=inst, action="objection_cleared").one()
            assert (step.from_state, step.to_state) == ("publicity", "approval_form")
            assert step.comment == "反映问题经核查不属实，不影响聘用"
        assert after_publicity(inst) == "hired"


def test_ss5_objection_affecting_hiring_is_rejected(app, people):
    with app.app_context():
        inst = _candidate(people, "异议不聘")
        to_publicity(inst)
        assert "必须填写" in refused("ss_admin", inst, "objection")
        assert act("ss_admin", inst, "objection", comment="公示期间反映问题属实，影响聘用") == "rejected"
        assert "不能执行" in refused("ss_admin", inst, "objection_cleared", comment="晚了")


def test_ss5_objection_cleared_over_http(app, people):
    with app.app_context():
        inst = _candidate(people, "网上异议")
        to_publicity(inst)
    admin = login(app.test_client(), "ss_admin")
    page = admin.get(f"/workflows/case/{inst}").get_data(as_text=True)
    assert "异议不影响聘用" in page and "公示异议影响聘用" in page
    assert "意见（必填）" in page  # a reason is asked for, yet neither step is shown as a return (退回)
    assert "退回理由（必填）" not in page
    resp = admin.post(f"/workflows/case/{inst}/act",
                      data={"action": "objection_cleared", "comment": "经核查不影响聘用"})
    assert resp.status_code == 302
    with app.app_context():
        assert state(inst) == "approval_form"
    page = admin.get(f"/workflows/case/{inst}").get_data(as_text=True)
    assert "异议不影响聘用" in page and "经核查不影响聘用" in page

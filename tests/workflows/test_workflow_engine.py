"""The engine's services without HTTP: who may act, conditions, N-of-M, self-approval, concurrency, bulk, inbox.

These run on the tests' own process (``engine_probe.yaml``, the ``probe`` fixture), not on a county's:
the counties' processes follow their documents and change with them.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, update
from wf_support import as_user, org_id, person_under

from app.core.errors import NotFound, ScopeDenied
from app.extensions import db
from app.orgs.models import OrgUnit
from app.workflows import services
from app.workflows.models import WorkflowInstance, WorkflowStep, WorkflowVote
from app.workflows.services import AlreadyHandled, WorkflowError
from support import is_postgres

PROBE = "engine_probe"
TOWN = "350581001"
VILLAGE = "350581001001"


def _start_recruitment(username: str = "ss_village", **data) -> int:
    """A case for the village's person, each in a round of its own (a person is recommended once per round)."""
    with as_user(username) as actor:
        rounds = db.session.scalar(select(func.count()).select_from(WorkflowInstance))
        inst = services.start(PROBE, actor=actor, person_id=person_under(VILLAGE),
                              cycle_year=dt.date.today().year + rounds, data={"position_code": "XGY", **data})
        return inst.id


def _act(username: str, inst_id: int, action: str, **kw):
    with as_user(username) as actor:
        result = services.act(inst_id, action, actor=actor, **kw)
        return result.moved, result.instance.state


def _state(inst_id: int) -> tuple[str, int, int]:
    with as_user("ss_admin"):
        inst = db.session.get(WorkflowInstance, inst_id)
        steps = db.session.query(WorkflowStep).filter_by(instance_id=inst_id).count()
        return inst.state, inst.row_version, steps


def _to_county_review(app) -> int:
    inst_id = _start_recruitment()
    _act("ss_village", inst_id, "recommend")
    _act("ss_town", inst_id, "town_pass")
    return inst_id


def test_start_records_the_first_step_and_the_definition_version(app, probe):
    with app.app_context():
        inst_id = _start_recruitment()
        with as_user("ss_admin"):
            inst = db.session.get(WorkflowInstance, inst_id)
            assert (inst.state, inst.definition_version, inst.step_seq) == ("recommended", 1, 0)
            assert [s.action for s in services.history(inst_id)] == ["start"]


def test_wrong_role_is_refused_and_nothing_changes(app, probe):
    with app.app_context():
        inst_id = _start_recruitment()
        before = _state(inst_id)
        with pytest.raises(ScopeDenied) as info:
            _act("ss_town", inst_id, "recommend")  # the village recommends, not the town
        assert info.value.status == 403 and "村填报员" in info.value.message
        assert _state(inst_id) == before


def test_town_clerk_outside_their_town_is_refused(app, probe):
    with app.app_context():
        with as_user("ss_admin") as admin:
            other = person_under("350581002")  # a person of another town
            inst = services.start(PROBE, actor=admin, person_id=other, data={"position_code": "XGY"})
            inst_id = inst.id
            db.session.execute(update(WorkflowInstance).where(WorkflowInstance.id == inst_id)
                               .values(state="town_review"))
            db.session.commit()
        before = _state(inst_id)
        with pytest.raises(ScopeDenied) as info:
            _act("ss_town", inst_id, "town_pass")
        assert "辖区" in info.value.message
        assert _state(inst_id) == before


def test_other_tenant_cannot_see_or_act_on_the_case(app, probe):
    with app.app_context():
        inst_id = _start_recruitment()
        with as_user("gl_admin") as actor:
            with pytest.raises(NotFound):
                services.act(inst_id, "reject", actor=actor, comment="x")
            with pytest.raises(NotFound):
                services.history(inst_id)
            assert services.inbox(actor).total == 0


def test_rules_refuse_an_ineligible_candidate_with_the_inputs(app, probe):
    with app.app_context():
        inst_id = _start_recruitment(reference_date="2060-01-01")  # past 55 by then
        with pytest.raises(WorkflowError) as info:
            _act("ss_village", inst_id, "recommend")
        assert "年龄" in info.value.message and "不满足" in info.value.message
        assert _state(inst_id)[0] == "recommended"
        assert _act("ss_village", inst_id, "recommend", data={"reference_date": "2025-06-30"}) == \
            (True, "town_review")


def test_return_needs_a_reason(app, probe):
    with app.app_context():
        inst_id = _start_recruitment()
        _act("ss_village", inst_id, "recommend")
        with pytest.raises(WorkflowError) as info:
            _act("ss_town", inst_id, "town_return", comment="  ")
        assert "退回理由" in info.value.message
        assert _act("ss_town", inst_id, "town_return", comment="材料不全") == (True, "recommended")
        with as_user("ss_admin"):
            last = services.history(inst_id)[-1]
            assert (last.from_state, last.to_state, last.comment) == ("town_review", "recommended", "材料不全")


def test_self_approval_is_refused(app, probe):
    with app.app_context():
        # The county admin makes the 公示 pass and then may not approve the hiring it prepared itself.
        inst_id = _to_county_review(app)
        with as_user("ss_admin"):
            db.session.execute(update(WorkflowInstance).where(WorkflowInstance.id == inst_id)
                               .values(state="final_approval"))
            db.session.commit()
        with as_user("ss_admin") as admin:
            db.session.execute(update(WorkflowInstance).where(WorkflowInstance.id == inst_id)
                               .values(last_user_id=admin.user_id))
            db.session.commit()
        with pytest.raises(ScopeDenied) as info:
            _act("ss_admin", inst_id, "hire")
        assert "不能审批自己提交的事项" in info.value.message
        assert _state(inst_id)[0] == "final_approval"


def test_town_clerk_cannot_approve_what_they_submitted(app, probe):
    with app.app_context():
        with as_user("ss_town") as town:  # the town clerk starts and submits… then tries to pass its own review
            inst = services.start(PROBE, actor=town, person_id=person_under(VILLAGE),
                                  data={"position_code": "XGY"})
            inst_id = inst.id
        with as_user("ss_admin") as admin:
            db.session.execute(update(WorkflowInstance).where(WorkflowInstance.id == inst_id)
                               .values(state="town_review"))
            db.session.commit()
        with pytest.raises(ScopeDenied):
            _act("ss_town", inst_id, "town_pass")
        del admin


def test_n_of_m_approval_needs_both_parties_once_each(app, probe):
    with app.app_context():
        inst_id = _to_county_review(app)
        assert _act("ss_admin", inst_id, "county_approve", party="人社局") == (False, "county_review")
        with pytest.raises(AlreadyHandled) as info:
            _act("ss_admin", inst_id, "county_approve", party="人社局")
        assert "已表态" in info.value.message
        with pytest.raises(WorkflowError):
            _act("ss_admin", inst_id, "county_approve", party="财政局")
        assert _act("ss_admin", inst_id, "county_approve", party="计生协会") == (True, "publicity")
        with as_user("ss_admin"):
            assert db.session.query(WorkflowVote).filter_by(instance_id=inst_id).count() == 2
            last = services.history(inst_id)[-1]
            assert "人社局：同意" in last.comment and "计生协会：同意" in last.comment


def test_a_rejecting_party_does_not_count_towards_need(app, probe):
    with app.app_context():
        inst_id = _to_county_review(app)
        assert _act("ss_admin", inst_id, "county_approve", party="人社局", decision="reject")[0] is False
        assert _act("ss_admin", inst_id, "county_approve", party="计生协会")[0] is False
        assert _state(inst_id)[0] == "county_review"


def test_stale_row_version_gets_already_handled(app, probe):
    with app.app_context():
        inst_id = _start_recruitment()
        _act("ss_village", inst_id, "recommend")
        seen = _state(inst_id)[1]
        _act("ss_town", inst_id, "town_pass", expected_row_version=seen)  # the first clerk wins
        with pytest.raises(AlreadyHandled) as info:
            _act("ss_town", inst_id, "town_return", comment="x", expected_row_version=seen)
        assert "已被他人处理" in info.value.message
        assert _state(inst_id)[0] == "county_review"


def test_conditional_update_loses_against_a_concurrent_change(app, probe):
    """Both read the case; the other one's UPDATE lands between our read and our write."""
    with app.app_context():
        inst_id = _start_recruitment()
        _act("ss_village", inst_id, "recommend")
        with as_user("ss_town") as actor:
            inst = services.get_instance(inst_id)
            assert inst.state == "town_review"
            with db.engine.begin() as conn:  # another session moves it on
                conn.execute(update(WorkflowInstance.__table__).where(WorkflowInstance.__table__.c.id == inst_id)
                             .values(row_version=WorkflowInstance.__table__.c.row_version + 1))
            with pytest.raises(AlreadyHandled):
                services.act(inst_id, "town_pass", actor=actor)
        assert _state(inst_id)[2] == 2  # start + recommend: no step written for the loser


def test_history_is_ordered_and_keeps_the_data_snapshot(app, probe):
    with app.app_context():
        inst_id = _to_county_review(app)
        with as_user("ss_admin"):
            steps = services.history(inst_id)
            assert [(s.from_state, s.to_state) for s in steps] == [
                (None, "recommended"), ("recommended", "town_review"), ("town_review", "county_review")]
            assert steps[1].data["position_code"] == "XGY"
            assert all(isinstance(s.at, dt.datetime) for s in steps)


def test_inbox_counts_per_role_and_scope(app, probe):
    with app.app_context():
        a = _start_recruitment()
        b = _start_recruitment()
        _act("ss_village", a, "recommend")
        with as_user("ss_admin") as admin:
            other = services.start(PROBE, actor=admin, person_id=person_under("350581002"),
                                   data={"position_code": "XGY"})
            db.session.execute(update(WorkflowInstance).where(WorkflowInstance.id == other.id)
                               .values(state="town_review"))
            db.session.commit()
        with as_user("ss_village") as actor:
            box = services.inbox(actor)
            assert box.counts == {("引擎示例流程", "村委会推荐"): 1} and [i.instance.id for i in box.items] == [b]
        with as_user("ss_town") as actor:  # the other town's case is not in this clerk's inbox
            box = services.inbox(actor)
            assert box.counts == {("引擎示例流程", "镇审核"): 1} and box.items[0].instance.id == a
        with as_user("ss_admin") as actor:  # the county admin may reject from 镇审核 anywhere
            assert services.inbox(actor).counts[("引擎示例流程", "镇审核")] == 2
        with as_user("fj_viewer") as actor:
            assert services.inbox(actor).total == 0


def test_bulk_approval_of_a_towns_cases_moves_only_that_subtree(app, probe):
    with app.app_context():
        mine = [_start_recruitment() for _ in range(3)]
        for inst_id in mine:
            _act("ss_village", inst_id, "recommend")
        with as_user("ss_admin") as admin:
            other = services.start(PROBE, actor=admin, person_id=person_under("350581002"),
                                   data={"position_code": "XGY"}).id
            db.session.execute(update(WorkflowInstance).where(WorkflowInstance.id == other)
                               .values(state="town_review"))
            db.session.commit()
        with as_user("ss_town") as town:
            with pytest.raises(ScopeDenied):
                services.bulk_act(PROBE, org_id("350581002"), "town_pass", actor=town)
            report = services.bulk_act(PROBE, org_id(TOWN), "town_pass", actor=town, comment="统一审核")
        assert report.moved == 3 and sorted(report.instance_ids) == sorted(mine)
        assert {_state(i)[0] for i in mine} == {"county_review"}
        assert _state(other)[0] == "town_review"
        with as_user("ss_admin"):
            step = services.history(mine[0])[-1]
            assert (step.action, step.from_state, step.comment) == ("town_pass", "town_review", "统一审核")


def test_bulk_n_of_m_needs_a_party_and_refuses_the_wrong_role(app, probe):
    with app.app_context():
        with as_user("ss_admin") as admin:
            with pytest.raises(WorkflowError) as info:
                services.bulk_act(PROBE, org_id(TOWN), "county_approve", actor=admin)
            assert "需选择会签单位：人社局、计生协会" in info.value.message
        with as_user("ss_village") as village:
            with pytest.raises(ScopeDenied):
                services.bulk_act(PROBE, org_id(VILLAGE), "town_pass", actor=village)


def test_bulk_skips_the_cases_the_approver_submitted(app, probe):
    with app.app_context():
        with as_user("ss_town") as town:
            inst_id = services.start(PROBE, actor=town, person_id=person_under(VILLAGE),
                                     data={"position_code": "XGY"}).id
            db.session.execute(update(WorkflowInstance).where(WorkflowInstance.id == inst_id)
                               .values(state="town_review"))
            db.session.commit()
            report = services.bulk_act(PROBE, org_id(TOWN), "town_pass", actor=town)
        assert (report.moved, report.skipped_self) == (0, 1)


def test_ss7_town_initial_opens_on_1_october(app, wf):
    with app.app_context():
        with as_user("ss_village") as actor:
            inst_id = services.start("appraisal", actor=actor, person_id=person_under(VILLAGE),
                                     cycle_year=2025, now=dt.datetime(2025, 9, 1)).id
            services.act(inst_id, "submit_summary", actor=actor, data={"summary": "全年工作总结"},
                         now=dt.datetime(2025, 9, 2))
        with as_user("ss_town") as town:
            with pytest.raises(WorkflowError) as info:
                services.act(inst_id, "town_grade", actor=town, data={"town_grade": "优秀"},
                             now=dt.datetime(2025, 9, 30))
            assert "10 月 1 日" in info.value.message
            with pytest.raises(WorkflowError):  # the condition: a known grade
                services.act(inst_id, "town_grade", actor=town, data={"town_grade": "很好"},
                             now=dt.datetime(2025, 10, 2))
            services.act(inst_id, "town_grade", actor=town, data={"town_grade": "优秀"},
                         now=dt.datetime(2025, 10, 2))
        with as_user("ss_admin"):
            inst = db.session.get(WorkflowInstance, inst_id)
            assert inst.state == "county_recheck" and inst.due_at == dt.datetime(2025, 11, 16)  # SS-7 by 15 Nov
            assert db.session.scalar(select(WorkflowStep.data).where(WorkflowStep.instance_id == inst_id)
                                     .order_by(WorkflowStep.id.desc()).limit(1))["town_grade"] == "优秀"


@pytest.mark.skipif(not is_postgres(), reason="real concurrency needs PostgreSQL (SQLite serialises writers)")
def test_two_clerks_acting_at_once_one_wins_the_other_is_told(app, probe):
    import threading

    with app.app_context():
        inst_id = _start_recruitment()
        _act("ss_village", inst_id, "recommend")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def run(action: str, comment: str | None) -> None:
        with app.app_context(), as_user("ss_town") as actor:
            services.get_instance(inst_id)  # both have read the case before either writes
            barrier.wait()
            try:
                services.act(inst_id, action, actor=actor, comment=comment)
                outcomes.append("won")
            except AlreadyHandled as exc:
                outcomes.append(exc.message)

    threads = [threading.Thread(target=run, args=a) for a in (("town_pass", None), ("town_return", "退回"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes, key=len)[0] == "won" and "已被他人处理" in sorted(outcomes, key=len)[1]
    with app.app_context():
        assert _state(inst_id)[2] == 3  # start, recommend, and exactly one of the two


def test_ss7_annual_cycle_opens_one_case_per_active_assistant_in_scope_once(app, wf):
    from sqlalchemy import func

    from app.staffing.models import Appointment

    with app.app_context():
        with as_user("ss_town") as town:
            opened = services.start_cycle("appraisal", actor=town, cycle_year=2025, now=dt.datetime(2025, 1, 2))
            expected = db.session.scalar(select(func.count(func.distinct(Appointment.person_id))).where(
                Appointment.status == "active", Appointment.org_unit_id.in_(
                    select(OrgUnit.id).where(OrgUnit.path.like("%/350581001/%")))))
            assert opened == expected > 0
            assert services.start_cycle("appraisal", actor=town, cycle_year=2025) == 0  # idempotent
            insts = services.instances_of("appraisal")
            assert {i.state for i in insts} == {"self_summary"} and len(insts) == opened
            assert db.session.scalar(select(func.count()).select_from(WorkflowStep)) == opened
        with as_user("ss_village") as village:
            assert services.inbox(village).total >= 1


# -- N-of-M: bulk opinions and the department a user speaks for --------------------------------

def _votes(inst_id: int) -> dict[str, str]:
    with as_user("ss_admin"):
        return services.votes_of(services.get_instance(inst_id))


def test_bulk_n_of_m_records_one_partys_opinion_on_every_case_and_completes_those_reaching_need(app, probe):
    with app.app_context():
        a, b, c = (_to_county_review(app) for _ in range(3))
        _act("ss_admin", a, "county_approve", party="计生协会")
        _act("ss_admin", c, "county_approve", party="人社局")
        b_version = _state(b)[1]
        with as_user("ss_admin") as admin:
            report = services.bulk_act(PROBE, org_id(TOWN), "county_approve", actor=admin, party="人社局",
                                       comment="批量会签")
        assert (report.voted, report.skipped_voted, report.moved) == (2, 1, 1)
        assert report.instance_ids == [a]
        assert report.summary() == ("已记录「人社局」意见 2 件，其中 1 件会签完成、已办理，"
                                    "1 件「人社局」已表态、未重复记录")
        assert _state(a)[0] == "publicity" and _state(b)[0] == "county_review" and _state(c)[0] == "county_review"
        assert _votes(b) == {"人社局": "approve"} and _state(b)[1] == b_version + 1  # a vote is a change too
        with as_user("ss_admin"):
            step = services.history(a)[-1]
            assert step.action == "county_approve" and step.from_state == "county_review"
            assert "计生协会：同意" in step.comment and "人社局：同意" in step.comment and "批量会签" in step.comment
            assert db.session.query(WorkflowVote).filter_by(instance_id=c, party="人社局").count() == 1
        with as_user("ss_admin") as admin:
            report = services.bulk_act(PROBE, org_id(TOWN), "county_approve", actor=admin, party="计生协会")
        assert (report.voted, report.skipped_voted, report.moved) == (2, 0, 2)
        assert {_state(i)[0] for i in (a, b, c)} == {"publicity"}


def test_bulk_n_of_m_against_records_the_opinion_and_moves_nothing(app, probe):
    with app.app_context():
        inst_id = _to_county_review(app)
        with as_user("ss_admin") as admin:
            report = services.bulk_act(PROBE, org_id(TOWN), "county_approve", actor=admin, party="人社局",
                                       decision="reject")
        assert (report.voted, report.moved) == (1, 0)
        assert _votes(inst_id) == {"人社局": "reject"} and _state(inst_id)[0] == "county_review"


def test_bound_user_is_refused_another_partys_vote_with_403_and_nothing_changes(app, probe, bound_admin):
    with app.app_context():
        inst_id = _to_county_review(app)
        before = _state(inst_id)
        with pytest.raises(ScopeDenied) as info:
            _act(bound_admin, inst_id, "county_approve", party="计生协会")
        assert info.value.status == 403 and "您代表「人社局」表态，不能代「计生协会」表态" in info.value.message
        with as_user(bound_admin) as actor:
            with pytest.raises(ScopeDenied):
                services.bulk_act(PROBE, org_id(TOWN), "county_approve", actor=actor, party="计生协会")
        assert _state(inst_id) == before and _votes(inst_id) == {}
        assert _act(bound_admin, inst_id, "county_approve") == (False, "county_review")  # their own party by default
        assert _votes(inst_id) == {"人社局": "approve"}


def test_unbound_admin_records_any_partys_opinion_and_history_names_the_recorder(app, probe, bound_admin):
    with app.app_context():
        inst_id = _to_county_review(app)
        _act(bound_admin, inst_id, "county_approve")
        assert _act("ss_admin", inst_id, "county_approve", party="计生协会") == (True, "publicity")
        with as_user("ss_admin") as admin:
            records = [(v.party, v.user_id) for v in services.vote_records(inst_id)]
            bound_id = db.session.scalar(select(WorkflowInstance.last_user_id).where(WorkflowInstance.id == inst_id))
            assert bound_id == admin.user_id
        with as_user(bound_admin) as bound:
            assert records == [("人社局", bound.user_id), ("计生协会", admin.user_id)]


@pytest.mark.skipif(not is_postgres(), reason="SQLite lets one writer at a time: the two votes cannot overlap there")
def test_bulk_vote_racing_a_single_vote_of_the_same_party_is_refused_cleanly(app, probe):
    """A single 人社局 vote commits while the bulk 人社局 vote waits on it: the bulk is undone with a message."""
    import threading

    from sqlalchemy import event, text

    with app.app_context():
        inst_id = _to_county_review(app)
        before = _state(inst_id)
        inst = WorkflowInstance.__table__
        other = db.engine.connect()
        other_tx = other.begin()
        other.execute(text("SELECT set_config('countydesk.all_tenants', 'on', true)"))
        row = other.execute(select(inst.c.tenant_id, inst.c.org_unit_id, inst.c.step_seq, inst.c.state)
                            .where(inst.c.id == inst_id)).one()
        other.execute(WorkflowVote.__table__.insert().values(
            tenant_id=row.tenant_id, instance_id=inst_id, org_unit_id=row.org_unit_id, step_seq=row.step_seq,
            state=row.state, party="人社局", decision="approve", at=dt.datetime(2025, 6, 1)))
        timers: list[threading.Timer] = []

        def commit_other_soon(conn, cursor, statement, *args):
            if statement.lstrip().upper().startswith("INSERT INTO WORKFLOW_VOTE") and not timers:
                timers.append(threading.Timer(0.5, other_tx.commit))
                timers[0].start()

        event.listen(db.engine, "before_cursor_execute", commit_other_soon)
        try:
            with as_user("ss_admin") as admin, pytest.raises(AlreadyHandled) as info:
                services.bulk_act(PROBE, org_id(TOWN), "county_approve", actor=admin, party="人社局")
        finally:
            event.remove(db.engine, "before_cursor_execute", commit_other_soon)
            for timer in timers:
                timer.join()
            other.close()
        assert timers and "已被他人处理" in info.value.message
        assert _state(inst_id) == before  # the bulk changed nothing
        with as_user("ss_admin"):
            assert db.session.query(WorkflowVote).filter_by(instance_id=inst_id).count() == 1  # the single vote only

"""SS-7 term-end appraisal (聘期考核), the annual cycle's dates and 末位 rule as configuration, and the
printable 年度考核表 carrying the final grade."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from types import SimpleNamespace

import fakeredis
import pytest
from rq import Queue
from sqlalchemy import delete, func, select, update
from wf_support import as_user, person_under

from app.core.tenancy import current_tenant_id
from app.extensions import db
from app.staffing.models import Appointment
from app.workflows import appraisal, services
from app.workflows.appraisal_models import AppraisalResult
from app.workflows.appraisal_term import TermAppraisalConfigError, cycle_of, open_term_end_appraisals, term_end_rule
from app.workflows.definition_types import MonthDay
from app.workflows.models import WorkflowInstance, WorkflowStep
from app.workflows.services import WorkflowError
from support import login

TERM = {"kind": "聘期考核", "term_end_date": "2025-12-31"}
CITY = ("市卫健局", "市人社局", "市计生协会")


@pytest.fixture
def inline_jobs(app, monkeypatch):
    conn = fakeredis.FakeRedis()
    monkeypatch.setitem(app.extensions, "countydesk_queues",
                        {n: Queue(n, connection=conn, is_async=False) for n in ("default", "long")})


@pytest.fixture
def graded(app) -> Iterator[list[int]]:
    """People whose 2025 results a test writes; those results are removed afterwards."""
    people: list[int] = []
    yield people
    with app.app_context(), db.engine.begin() as conn:
        r = AppraisalResult.__table__  # this test's cycle only: other years' rows belong to the shared fixture
        conn.execute(delete(r).where(r.c.person_id.in_(people), r.c.period == "2025"))


def _in_recheck(inst_id: int) -> None:
    db.session.execute(update(WorkflowInstance).where(WorkflowInstance.id == inst_id).values(
        state="county_recheck", due_at=dt.datetime(2025, 11, 16), last_user_id=None))
    db.session.commit()


def test_ss7_term_end_setting_is_checked_and_names_the_place():
    with pytest.raises(TermAppraisalConfigError) as info:
        term_end_rule({"appraisal": {"term_end": {"workflow": "", "scheme": "X" * 40, "days_before": -1,
                                                  "dayz_before": 3}}})
    text = info.value.message
    for place in ("term_end.workflow", "term_end.scheme", "term_end.days_before", "term_end.dayz_before"):
        assert place in text
    assert term_end_rule({"appraisal": {"monthly": {}}}) is None  # a county without it opens nothing
    rule = term_end_rule({"appraisal": {"term_end": {"workflow": "appraisal", "scheme": "SS7-TERM",
                                                     "days_before": 30, "position": "XGY"}}})
    assert (rule.workflow, rule.scheme, rule.days_before, rule.position) == ("appraisal", "SS7-TERM", 30, "XGY")


def test_ss7_term_end_is_held_in_the_last_cycle_opened_before_the_term_ends():
    calendar = SimpleNamespace(states=[SimpleNamespace(opens=None), SimpleNamespace(opens=MonthDay(10, 1))])
    assert cycle_of(calendar, dt.date(2025, 12, 31)) == (2025, dt.date(2025, 10, 1))
    assert cycle_of(calendar, dt.date(2025, 10, 1)) == (2025, dt.date(2025, 10, 1))
    assert cycle_of(calendar, dt.date(2026, 3, 31)) == (2025, dt.date(2025, 10, 1))  # the autumn before
    no_calendar = SimpleNamespace(states=[SimpleNamespace(opens=None)])
    assert cycle_of(no_calendar, dt.date(2026, 3, 31)) == (2026, dt.date(2026, 3, 31))


def test_ss7_term_end_appraisals_open_once_per_term_and_replace_the_annual_one(app, wf):
    with app.app_context(), as_user("ss_admin") as admin:
        a = Appointment.__table__
        ending = set(db.session.execute(select(a.c.person_id).where(
            a.c.tenant_id == current_tenant_id(), a.c.position_code == "XGY", a.c.status == "active",
            a.c.end_date == dt.date(2025, 12, 31))).scalars())
        assert len(ending) > 100
        early = person_under("350581001001")
        assert early in ending
        annual = services.start("appraisal", actor=admin, person_id=early, cycle_year=2025,
                                now=dt.datetime(2025, 8, 20))  # the county started this one before the opener ran
        # Shishi: 30 days before the cycle opens (town initial from 1 October) — not on 31 August
        assert appraisal.open_term_end_appraisals(dt.date(2025, 8, 31)) == 0
        report = open_term_end_appraisals(dt.date(2025, 9, 1))
        assert (report.opened, report.converted, report.problems) == (len(ending) - 1, 1, [])
        assert appraisal.open_term_end_appraisals(dt.date(2025, 9, 2)) == 0  # never twice for one term
        cases = services.instances_of("appraisal")
        assert len(cases) == len(ending) and {c.person_id for c in cases} == ending
        assert all(c.cycle_year == 2025 and c.data["kind"] == "聘期考核" and c.data["term_end_date"] == "2025-12-31"
                   for c in cases)
        converted = db.session.get(WorkflowInstance, annual.id)
        assert converted.state == "self_summary" and converted.data["kind"] == "聘期考核"
        step = db.session.scalars(select(WorkflowStep).where(WorkflowStep.instance_id == annual.id,
                                                             WorkflowStep.action == "term_end")).one()
        assert "2025-12-31" in step.comment and "聘期考核" in step.comment
        # the annual bulk start of the same cycle adds nobody: the term-end appraisal takes its place
        assert services.start_cycle("appraisal", actor=admin, cycle_year=2025, now=dt.datetime(2025, 9, 3)) == 0
        # the next cycle (2026) is not theirs: these terms end before it opens
        assert appraisal.open_term_end_appraisals(dt.date(2025, 12, 1)) == 0
        assert db.session.scalar(select(func.count()).select_from(WorkflowInstance)
                                 .where(WorkflowInstance.tenant_id == current_tenant_id())) == len(ending)


def test_ss7_term_end_grade_needs_the_three_city_departments_and_is_stored_apart(app, wf, inline_jobs, graded):
    with app.app_context():
        with as_user("ss_admin") as admin:
            pid = person_under("350581001002")
            graded.append(pid)
            inst = services.start("appraisal", actor=admin, person_id=pid, data=TERM, cycle_year=2025,
                                  now=dt.datetime(2025, 9, 1))
            inst_id = inst.id
            _in_recheck(inst_id)
            with pytest.raises(WorkflowError):  # the annual confirmation does not apply to a term-end case
                services.act(inst_id, "confirm", actor=admin, data={"grade": "优秀"}, now=dt.datetime(2025, 11, 10))
            votes = [services.act(inst_id, "confirm_term", actor=admin, party=party,
                                  data={"grade": "优秀", "score": 93}, now=dt.datetime(2025, 11, 10)).moved
                     for party in ("市卫健局", "市人社局", "市计生协会")]
            assert votes == [False, False, True]
        with as_user("ss_admin"):
            rows = db.session.scalars(select(AppraisalResult).where(AppraisalResult.person_id == pid,
                                                                    AppraisalResult.period == "2025")).all()
            assert [(r.scheme, r.period, r.grade, r.last_place) for r in rows] == [("SS7-TERM", "2025", "优秀", False)]
            row = rows[0]
            appt = db.session.get(Appointment, row.appointment_id)
            assert appt.end_date == dt.date(2025, 12, 31) and row.source_instance_id == inst_id
            assert appraisal.year_result(pid, 2025).id == row.id  # what a pay rule reads for 2025
            row_id = row.id
    page = login(app.test_client(), "ss_admin").get(f"/appraisal/results/print/{row_id}").get_data(as_text=True)
    assert "年度考核表" in page and "聘期考核" in page and "2025-12-31" in page and "优秀" in page
    api = login(app.test_client(), "ss_admin").get(f"/api/v1/appraisal_result/{row_id}").get_json()["result"]
    assert (api["scheme"], api["period"], api["grade"]) == ("SS7-TERM", "2025", "优秀")


def test_ss7_annual_appraisal_form_prints_with_the_final_grade(app, wf, inline_jobs, graded):
    """The 年度考核表 a worker filled says 合格; the county confirmed 优秀: the print shows 优秀."""
    from app.forms import services as forms
    from app.workflows.appraisal_print import result_doc

    with app.app_context():
        with as_user("ss_admin") as admin:
            pid = person_under("350581001003")
            graded.append(pid)
            record = forms.create_record("annual_appraisal", {"person_id": pid, "period": "2025", "data": {
                "summary": "全年按时完成月报", "grade": "合格", "remarks": "获镇表彰"}})
            db.session.commit()
            record_id = record.id
            inst = services.start("appraisal", actor=admin, person_id=pid, cycle_year=2025,
                                  now=dt.datetime(2025, 9, 1))
            _in_recheck(inst.id)
            for party in CITY:  # the annual recheck is the three departments' joint sign-off too
                services.act(inst.id, "confirm", actor=admin, party=party, data={"grade": "优秀", "score": 95},
                             now=dt.datetime(2025, 11, 10))
        try:
            with as_user("ss_admin"):
                row = db.session.scalars(select(AppraisalResult).where(AppraisalResult.person_id == pid,
                                                                       AppraisalResult.period == "2025")).one()
                assert (row.scheme, row.grade) == ("SS7", "优秀")
                doc, name = result_doc(row.id)
                cells = dict(cell for section in doc.sections for cell in section.rows)
                assert doc.title == "年度考核表" and name.startswith("年度考核表-")
                assert cells["考核等次"] == "优秀" and cells["个人总结"] == "全年按时完成月报"
                assert cells["备注"] == "获镇表彰" and "市卫健局意见" in doc.signatures
                assert ("考核类别", "年度考核") in doc.meta
                if "考核类别" in cells:  # the form's own 考核类别 / 末位 fields carry the case's values too
                    assert cells["考核类别"] == "年度考核"
                row_id = row.id
        except BaseException:
            _drop_record(app, record_id)
            raise
    try:  # requests outside the test's app context: each gets its own session and scope
        client = login(app.test_client(), "ss_admin")
        page = client.get(f"/appraisal/results/print/{row_id}").get_data(as_text=True)
        assert "优秀" in page and "全年按时完成月报" in page
        pdf = client.get(f"/appraisal/results/print/{row_id}.pdf")
        assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
        assert login(app.test_client(), "gl_admin").get(f"/appraisal/results/print/{row_id}").status_code == 404
    finally:
        _drop_record(app, record_id)


def _drop_record(app, record_id: int) -> None:
    from app.forms.models import FormRecord

    with app.app_context(), db.engine.begin() as conn:
        conn.execute(delete(FormRecord.__table__).where(FormRecord.__table__.c.id == record_id))


def test_ss7_cycle_dates_and_last_place_rule_are_county_configuration(app, demo, copy_tenant, inline_jobs):
    """Another county with the same process but other dates and another 末位 rule: no code changes."""
    from app.core.tenancy import tenant_context
    from app.tenantio.loader import load_tenant_folder

    folder = copy_tenant("shishi", "ss7cfg")
    path = folder / "workflows" / "appraisal.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace('opens: "10-01"', 'opens: "09-15"').replace('deadline: "11-15"', 'deadline: "11-30"')
    text = text.replace("last_place: 'AND(县内人数 > 1, 县内名次 = 县内人数)'",
                        'last_place: \'OR(等次 = "合格", 等次 = "不合格")\'')
    assert 'OR(等次 = "合格"' in text
    path.write_text(text, encoding="utf-8")
    with app.app_context():
        tenant_id = load_tenant_folder(folder).tenant_id
        with tenant_context(tenant_id):
            pid = person_under("350581001001")
            system = services.SYSTEM
            inst = services.start("appraisal", actor=system, person_id=pid, cycle_year=2025,
                                  now=dt.datetime(2025, 9, 1))
            services.act(inst.id, "submit_summary", actor=system, data={"summary": "总结"},
                         now=dt.datetime(2025, 9, 2))
            with pytest.raises(WorkflowError) as info:
                services.act(inst.id, "town_grade", actor=system, data={"town_grade": "合格"},
                             now=dt.datetime(2025, 9, 14))
            assert "9 月 15 日起" in info.value.message
            services.act(inst.id, "town_grade", actor=system, data={"town_grade": "合格"},
                         now=dt.datetime(2025, 9, 15))
            assert db.session.get(WorkflowInstance, inst.id).due_at == dt.datetime(2025, 12, 1)  # by 30 November
            for party in CITY:
                services.act(inst.id, "confirm", actor=system, party=party, data={"grade": "合格", "score": 75},
                             now=dt.datetime(2025, 11, 20))
            db.session.expire_all()
            row = db.session.scalars(select(AppraisalResult).where(AppraisalResult.person_id == pid,
                                                                   AppraisalResult.period == "2025")).one()
            assert (row.grade, row.last_place) == ("合格", True)  # this county's rule flags 合格 too
            db.session.rollback()

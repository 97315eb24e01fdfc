"""Term expiry (SS-3, GL-3): a case opens N days before an appointment ends — renewal or a new round."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from wf_support import as_user, serving

from app.extensions import db
from app.staffing.models import Appointment
from app.workflows import services, terms
from app.workflows.models import WorkflowInstance, WorkflowStep
from app.workflows.services import WorkflowError

YOUNG = "20050101"  # 35 in 2040: under the GL-6 renewal age
TODAY = dt.date(2040, 1, 1)  # no demo appointment ends near then


def _cases(code: str) -> list[WorkflowInstance]:
    return list(db.session.scalars(select(WorkflowInstance).where(WorkflowInstance.definition_code == code)))


def test_gl3_renewal_opens_60_days_before_the_end_once_and_renews_from_the_next_day(app, people):
    with app.app_context():
        soon = serving(people, "gl_admin", "520424001001", "RKZR", dt.date(2040, 2, 15), birth=YOUNG)
        later = serving(people, "gl_admin", "520424001002", "RKZR", dt.date(2040, 3, 15), birth=YOUNG)  # 74 days away
        with as_user("gl_admin"):
            report = terms.open_term_cases(TODAY)
            assert report.opened == 1 and not report.problems
            [case] = _cases("renewal")
            assert (case.person_id, case.state, case.cycle_year) == (soon, "pending", 2040)
            assert case.data == {"position_code": "RKZR", "term_start": "2040-02-16", "reference_date": "2040-02-16",
                                 "renewal_max_age": 40}
            case_id = case.id
            assert terms.open_term_cases(TODAY).opened == 0  # idempotent
            assert terms.open_term_cases(dt.date(2040, 1, 15)).opened == 1  # now the later one is due
            assert {c.person_id for c in _cases("renewal")} == {soon, later}
        with as_user("gl_town") as town:
            services.act(case_id, "renew", actor=town)
        with as_user("gl_admin"):
            new = db.session.scalars(select(Appointment).where(Appointment.person_id == soon)
                                     .order_by(Appointment.start_date.desc())).first()
            assert (new.start_date, new.end_date) == (dt.date(2040, 2, 16), dt.date(2043, 2, 15))


def test_ss3_term_end_opens_a_new_selection_round_90_days_before(app, people):
    with app.app_context():
        pid = serving(people, "ss_admin", "350581001001", "XGY", dt.date(2040, 4, 1), birth=YOUNG)
        with as_user("ss_admin"):
            assert terms.open_term_cases(TODAY).opened == 0  # 1 Apr is 91 days after 1 Jan: not yet
            assert terms.open_term_cases(dt.date(2040, 1, 2)).opened == 1
            [case] = _cases("recruitment")
            assert (case.person_id, case.state) == (pid, "recommended")
            assert case.data["position_code"] == "XGY" and case.data["reference_date"] == "2040-04-02"


def test_term_settings_errors_name_the_place(app):
    with pytest.raises(terms.TermConfigError) as info:
        terms.term_rule({"terms": {"remind_days": 0}})
    assert "settings.terms.remind_days" in info.value.message and "settings.terms.workflow" in info.value.message
    assert terms.term_rule({}) is None


def test_gl6_over_the_renewal_age_is_not_renewed_and_the_case_says_why(app, people):
    """GL-6 "超过续聘年龄……及时办理解聘": 41 on the new term's first day is over Guanling's 40; 40 is not."""
    with app.app_context():
        end = dt.date(2040, 2, 15)  # the new term would start on 2040-02-16
        older = serving(people, "gl_admin", "520424001001", "RKZR", end, birth="19990216")  # 41 that day
        forty = serving(people, "gl_admin", "520424001002", "RKZR", end, birth="19990217")  # still 40
        with as_user("gl_admin"):
            report = terms.open_term_cases(TODAY)
            assert (report.opened, report.over_age) == (2, 1)
            cases = {c.person_id: c.id for c in _cases("renewal")}
            first = db.session.scalars(select(WorkflowStep).where(WorkflowStep.instance_id == cases[older])).first()
            assert "已满 41 周岁" in first.comment and "超过续聘年龄上限 40 周岁" in first.comment
            calm = db.session.scalars(select(WorkflowStep).where(WorkflowStep.instance_id == cases[forty])).first()
            assert "续聘年龄" not in calm.comment
        with as_user("gl_town") as town:
            with pytest.raises(WorkflowError) as info:
                services.act(cases[older], "renew", actor=town)
            assert "续聘" in info.value.message and "续聘年龄上限=40" in info.value.message
            assert "年龄=41" in info.value.message
            services.act(cases[older], "decline", actor=town, comment="超过续聘年龄，办理解聘")
            services.act(cases[forty], "renew", actor=town)
        with as_user("gl_admin"):
            states = {c.person_id: c.state for c in _cases("renewal")}
            assert states == {older: "not_renewed", forty: "renewed"}
            assert db.session.scalar(select(func.count()).select_from(Appointment)
                                     .where(Appointment.person_id == older)) == 1  # no new term


def test_gl6_renewal_age_setting_is_checked_at_load(app, copy_tenant):
    with pytest.raises(terms.TermConfigError) as info:
        terms.term_rule({"terms": {"remind_days": 60, "workflow": "renewal", "renewal_max_age": "四十"}})
    assert "settings.terms.renewal_max_age" in info.value.message and "四十" in info.value.message
    assert terms.term_rule({"terms": {"remind_days": 60, "workflow": "renewal"}}).renewal_max_age is None
    from app.tenantio.loader import load_tenant_folder
    from app.tenantio.problems import TenantFolderInvalid

    folder = copy_tenant("guanling", "gl6age")
    path = folder / "tenant.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("renewal_max_age: 40", "renewal_max_age: 10"),
                    encoding="utf-8")
    with app.app_context(), pytest.raises(TenantFolderInvalid) as bad:
        load_tenant_folder(folder)
    assert "settings.terms.renewal_max_age" in str(bad.value) and "18–80" in str(bad.value)

"""Demo appraisal results, so the 考核结果 screen, the 月通报 and the API have something to show.

Generic, driven by each county's configuration (no county is named here):

* a county with a monthly scheme (``settings.appraisal.monthly``) gets every month of the demo
  years scored for the people serving the scheme's position, through the real ``record_month``
  (ranks, 末位 flag) and ``derive_annual`` (the year's grade by the county's formulas);
* a county whose appraisal process has ``rules.appraisal`` gets a final grade per person and cycle
  year — the annual scheme, or, in the cycle in which the person's term ends, the term-end scheme
  of ``settings.appraisal.term_end`` (as the term-end opener would have decided). With a
  ``total_field`` each grade comes with a score in the grade's band, and the year is ranked and
  flagged (末位) the way confirmations do it.

Why deterministic: the same figures on every machine and every reload (scores and grades come
from a hash of the person's ID number and the period, never from a random draw); loading again
rewrites the same rows and adds none.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import select

from app.core.errors import CountyDeskError
from app.extensions import db
from app.formulas import FormulaError
from app.formulas.formula import Formula
from app.staffing.models import Appointment, Person
from app.workflows import appraisal
from app.workflows.appraisal_models import AppraisalResult
from app.workflows.appraisal_term import cycle_of, term_end_rule


@dataclass
class DemoReport:
    monthly: int = 0
    annual: int = 0
    term_end: int = 0

    def summary(self) -> str:
        return f"考核结果演示数据：月度 {self.monthly} 条，年度 {self.annual} 条，聘期考核 {self.term_end} 条"


def _bucket(*parts: object) -> int:
    """0–99, stable across runs and machines."""
    return int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:8], 16) % 100


def _serving(day: dt.date, position: str | None) -> list[tuple[Person, Appointment]]:
    stmt = (select(Person, Appointment).join(Appointment, Appointment.person_id == Person.id)
            .where(Appointment.start_date <= day, sa.or_(Appointment.end_date.is_(None), Appointment.end_date >= day))
            .order_by(Person.id, Appointment.start_date.desc()))
    if position:
        stmt = stmt.where(Appointment.position_code == position)
    seen: dict[int, tuple[Person, Appointment]] = {}
    for person, appt in db.session.execute(stmt).all():
        seen.setdefault(person.id, (person, appt))
    return list(seen.values())


def _monthly(years: Sequence[int], today: dt.date, report: DemoReport) -> None:
    try:
        scheme = appraisal.monthly_scheme()
    except CountyDeskError:
        return
    for year in years:
        scored = False
        for month in range(1, 13):
            day = dt.date(year, month, 1)
            if day > today:
                break
            period = f"{year}-{month:02d}"
            scores = {}
            for person, _appt in _serving(day, scheme.position):
                weak = _bucket(person.id_number, "weak") < 8  # a few people are behind every month
                scores[person.id] = {item.code: round(item.max * (0.4 if weak else 0.6) + item.max * (
                    0.35 if weak else 0.4) * _bucket(person.id_number, period, item.code) / 100)
                    for item in scheme.items}
            if scores:
                report.monthly += appraisal.record_month(period, scores, commit=False)
                scored = True
        if scored and (scheme.annual_total is not None or scheme.annual_grade is not None):
            report.annual += appraisal.derive_annual(year, commit=False)


def _grade(id_number: str, period: str) -> str:
    h = _bucket(id_number, period, "grade")
    return "优秀" if h < 15 else ("合格" if h < 95 else "不合格")


_BANDS = {"优秀": (90, 10), "合格": (60, 30), "不合格": (40, 20)}
"""A demo score consistent with its grade: the band's floor and width."""


def _score(id_number: str, period: str, grade: str) -> float:
    floor, width = _BANDS[grade]
    return float(floor + width * _bucket(id_number, period, "score") // 100)


def _case_grades(years: Sequence[int], report: DemoReport) -> None:
    from app.workflows import services
    from app.workflows.models import WorkflowDefinition

    try:
        term = term_end_rule()
    except CountyDeskError:
        term = None
    for code in db.session.scalars(select(WorkflowDefinition.code).distinct().order_by(WorkflowDefinition.code)):
        definition = services.load_definition(code)
        rule = getattr(definition.rules, "appraisal", None)
        if rule is None or definition.subject != "person":
            continue
        scored = rule.total_field is not None
        ranked: set[tuple[str, str]] = set()
        is_term_workflow = term is not None and term.workflow == code
        for year in years:
            opens = [s.opens for s in definition.states if s.opens is not None]
            day = min(opens, key=lambda md: (md.month, md.day)).in_year(year) if opens else dt.date(year, 12, 31)
            for person, appt in _serving(day, term.position if is_term_workflow and term else None):
                scheme = rule.scheme
                if is_term_workflow and term and appt.status == "active" and appt.end_date is not None \
                        and cycle_of(definition, appt.end_date)[0] == year:  # a dismissal is no term end
                    scheme = term.scheme
                grade = _grade(person.id_number, str(year))
                total = _score(person.id_number, str(year), grade) if scored else None
                _store(person, appt, scheme, str(year), grade, total, rule.last_place)
                ranked.add((scheme, str(year)))
                if scheme == rule.scheme:
                    report.annual += 1
                else:
                    report.term_end += 1
        if scored:
            db.session.flush()
            for scheme, period in sorted(ranked):
                appraisal.rank_period(scheme, period, rule.last_place)


def _store(person: Person, appt: Appointment, scheme: str, period: str, grade: str, total: float | None,
           last_place: Formula | None) -> None:
    row = db.session.scalars(select(AppraisalResult).where(
        AppraisalResult.person_id == person.id, AppraisalResult.scheme == scheme,
        AppraisalResult.period == period)).first()
    if row is None:
        row = AppraisalResult(person=person, org_unit=appt.org_unit, period=period, scheme=scheme)
        db.session.add(row)
    row.appointment = appt
    row.grade = grade
    row.total = total
    row.scores = {"grade": grade} if total is None else {"grade": grade, "score": total}
    try:  # with a total the ranking decides (``rank_period``); without one the formula sees the grade only
        flagged = total is None and last_place is not None \
            and last_place.compute({"grade": grade, "total": None}) is True
    except (FormulaError, KeyError):
        flagged = False
    row.last_place = bool(flagged)


def load_demo_appraisals(today: dt.date, years: Sequence[int] | None = None) -> DemoReport:
    """For the current county: demo results of ``years`` (default: the year before ``today``, a closed year)."""
    years = (today.year - 1,) if years is None else years
    report = DemoReport()
    _monthly(years, today, report)
    _case_grades(years, report)
    db.session.commit()
    return report

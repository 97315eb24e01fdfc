"""Term-end appraisal (聘期考核): open one case per appointment whose term ends, in the right cycle.

A county configures it next to its other appraisal settings (``settings.appraisal.term_end``)::

    appraisal:
      term_end:
        workflow: appraisal     # the appraisal process; its case gets 考核类别 = 聘期考核
        scheme: SS7-TERM        # results are stored under this scheme, the annual ones under the
                                # workflow's rules.appraisal.scheme: pay rules tell them apart
        position: XGY           # optional: only this position's appointments
        days_before: 30         # open the case this many days before its cycle opens

Why a cycle and not simply "N days before the term ends": a county's appraisal process can run on
a calendar (a state that ``opens: "10-01"``, deadlines ``"11-15"``), and a term-end appraisal held in
that calendar belongs to the last cycle that has opened by the day the term ends — a term ending
in March is appraised in the previous autumn, one ending in December in that year's autumn. The
term-end appraisal then takes the place of that year's annual appraisal (one case per person and
cycle: the annual bulk start skips people who already have one). A process without calendar
dates is simply opened ``days_before`` days before the term ends.

Idempotent: an appointment's term (person + end date) never gets a second case; an annual case of
the same person and cycle that is still running is turned into the term-end case (with a history
step) instead of opening a second one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import select, update

from app.core import clock
from app.core.errors import CountyDeskError
from app.core.tenancy import current_tenant_id
from app.extensions import db
from app.workflows.terms import CaseReport, SettingsError, is_day_count, refuse, settings_at

KIND_FIELD = "kind"
"""The case field that says which appraisal a case is (blank: the annual one)."""
TERM_KIND = "聘期考核"
END_FIELD = "term_end_date"
"""The case field holding the end of the term being appraised (the idempotency key with the person)."""
MAX_SCHEME = 32


class TermAppraisalConfigError(SettingsError):
    """``settings.appraisal.term_end`` is wrong."""


@dataclass(frozen=True)
class TermEndRule:
    workflow: str
    scheme: str
    days_before: int
    position: str | None = None


@dataclass
class TermEndReport(CaseReport):
    converted: int = 0

    @property
    def total(self) -> int:
        return self.opened + self.converted


def term_end_rule(settings: Mapping[str, Any] | None = None) -> TermEndRule | None:
    """The county's rule, or None when it has none; every problem in one Chinese message."""
    raw = settings_at(settings, "appraisal", "term_end")
    if raw is None:
        return None
    base = "settings.appraisal.term_end"
    if not isinstance(raw, Mapping):
        raise TermAppraisalConfigError(f"{base}：应为 {{workflow: 流程代码, scheme: 方案代码, days_before: 天数}}")
    problems = [f"{base}.{key}：未知设置（可用：workflow、scheme、position、days_before）"
                for key in raw if key not in ("workflow", "scheme", "position", "days_before")]
    workflow, scheme, days, position = raw.get("workflow"), raw.get("scheme"), raw.get("days_before", 0), \
        raw.get("position")
    if not isinstance(workflow, str) or not workflow:
        problems.append(f"{base}.workflow：缺少聘期考核所用的流程代码（如 appraisal）")
    if not isinstance(scheme, str) or not scheme or len(scheme) > MAX_SCHEME:
        problems.append(f"{base}.scheme：缺少聘期考核结果的方案代码（不超过 {MAX_SCHEME} 个字符，如 SS7-TERM）")
    if not is_day_count(days, 0):
        problems.append(f"{base}.days_before：提前天数应为 0–366 的整数（得到「{days}」）")
    if position is not None and (not isinstance(position, str) or not position):
        problems.append(f"{base}.position：应为岗位代码（得到「{position}」）")
    refuse(TermAppraisalConfigError, "聘期考核", problems)
    return TermEndRule(str(workflow), str(scheme), int(days), position)  # type: ignore[arg-type]


def cycle_of(definition: Any, end: dt.date) -> tuple[int, dt.date]:
    """(cycle year, day the cycle opens) of the term-end appraisal of a term ending on ``end``.

    The cycle opens on the earliest ``opens`` of the process's states; without one the "cycle" is
    the term's own end.
    """
    opens = [s.opens for s in definition.states if s.opens is not None]
    if not opens:
        return end.year, end
    first = min(opens, key=lambda md: (md.month, md.day))
    year = end.year if end >= first.in_year(end.year) else end.year - 1
    return year, first.in_year(year)


def open_term_end_appraisals(today: dt.date | None = None, *, commit: bool = True) -> TermEndReport:
    """For the current county: open (or turn an annual case into) the term-end appraisal that is due.

    Due means: the appointment is active, its term has not ended yet, and ``today`` is at most
    ``days_before`` days before its cycle opens. A case opened after the cycle's deadlines shows
    as overdue at the next timer tick — a missed term-end appraisal is never skipped silently.
    """
    from app.staffing.models import Appointment
    from app.workflows import services
    from app.workflows.models import WorkflowInstance

    report = TermEndReport()
    rule = term_end_rule()
    if rule is None:
        return report
    today = today or clock.server_today()
    definition = services.load_definition(rule.workflow)
    declared = {f.code for f in definition.fields}
    if not {KIND_FIELD, END_FIELD} <= declared:
        raise TermAppraisalConfigError(
            f"流程「{definition.name}」缺少字段 {KIND_FIELD}（考核类别）或 {END_FIELD}（聘期届满日），"
            "无法发起聘期考核")
    final_states = {s.code for s in definition.states if s.final}
    a = Appointment.__table__
    horizon = today + dt.timedelta(days=rule.days_before + 366)  # a cycle opens less than a year before the end
    conds = [a.c.tenant_id == current_tenant_id(), a.c.status == "active", a.c.end_date.is_not(None),
             a.c.end_date >= today, a.c.end_date <= horizon]
    if rule.position:
        conds.append(a.c.position_code == rule.position)
    due: dict[tuple[int, int], dt.date] = {}
    for person_id, end in db.session.execute(select(a.c.person_id, a.c.end_date).where(*conds)
                                             .order_by(a.c.end_date, a.c.id)):
        year, opens = cycle_of(definition, end)
        if today >= opens - dt.timedelta(days=rule.days_before):
            due.setdefault((person_id, year), end)  # two appointments ending in one cycle: one appraisal
    if not due:
        return report
    existing: dict[tuple[int, int], list[WorkflowInstance]] = {}
    for inst in db.session.scalars(select(WorkflowInstance).where(
            WorkflowInstance.definition_code == rule.workflow,
            WorkflowInstance.person_id.in_(sorted({p for p, _y in due})),
            WorkflowInstance.cycle_year.in_(sorted({y for _p, y in due}))).order_by(WorkflowInstance.id)):
        existing.setdefault((inst.person_id or 0, inst.cycle_year), []).append(inst)
    for (person_id, year), end in due.items():
        cases = existing.get((person_id, year), [])
        if any((c.data or {}).get(KIND_FIELD) == TERM_KIND for c in cases):
            continue  # this term already has its term-end appraisal
        values = {KIND_FIELD: TERM_KIND, END_FIELD: end.isoformat()}
        running = next((c for c in cases if c.state not in final_states), None)
        if running is not None:
            if _convert(running, values, end):
                report.converted += 1
                report.instance_ids.append(running.id)
            continue
        try:
            inst = services.start(rule.workflow, actor=services.SYSTEM, person_id=person_id, data=values,
                                  cycle_year=year, comment=f"聘期将于 {end.isoformat()} 届满，自动发起聘期考核",
                                  commit=False)
        except CountyDeskError as exc:
            report.problems.append(f"人员 {person_id}：{exc.message}")
            continue
        report.opened += 1
        report.instance_ids.append(inst.id)
    if commit:
        db.session.commit()
    return report


def _convert(inst: Any, values: dict[str, Any], end: dt.date) -> bool:
    """An annual case of the term's last cycle becomes its term-end case: data and one history step."""
    from app.workflows.models import WorkflowInstance, WorkflowStep

    data = {**(inst.data or {}), **values}
    seen = inst.row_version
    result = db.session.execute(
        update(WorkflowInstance).where(WorkflowInstance.id == inst.id, WorkflowInstance.row_version == seen)
        .values(data=data, row_version=seen + 1).execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        db.session.expire(inst)
        return False
    db.session.add(WorkflowStep(
        instance_id=inst.id, org_unit_id=inst.org_unit_id, seq=inst.step_seq, from_state=inst.state,
        to_state=inst.state, action="term_end", user_id=None, at=clock.server_now().replace(microsecond=0),
        comment=f"本人聘期将于 {end.isoformat()} 届满，本年度考核转为聘期考核", data=data))
    db.session.flush()
    db.session.expire(inst)
    return True


def term_scheme(session: Any, tenant_id: int | None, annual_scheme: str) -> str:
    """The scheme a term-end grade is stored under (the county's setting; ``<annual>-TERM`` without one)."""
    from app.core.models import Tenant

    tenant = session.get(Tenant, tenant_id) if tenant_id is not None else None
    settings = dict(((tenant.settings or {}) if tenant is not None else {}).get("settings") or {})
    try:
        rule = term_end_rule(settings)
    except TermAppraisalConfigError:
        rule = None
    return rule.scheme if rule is not None else f"{annual_scheme}-TERM"[:MAX_SCHEME]


def term_appointment_id(session: Any, tenant_id: int | None, person_id: int | None, end: Any) -> int | None:
    """The appointment whose term a term-end case appraised (by its end date)."""
    from app.staffing.models import Appointment

    try:
        day = dt.date.fromisoformat(str(end))
    except ValueError:
        return None
    a = Appointment.__table__
    return session.execute(select(a.c.id).where(a.c.tenant_id == tenant_id, a.c.person_id == person_id,
                                                a.c.end_date == day)
                           .order_by(sa.desc(a.c.start_date)).limit(1)).scalar()

"""Term expiry: open the county's configured case for every appointment whose term ends soon.

Configured per county (``settings.terms`` in tenant.yaml)::

    terms:
      remind_days: 60          # open the case this many days before the appointment ends
      workflow: renewal        # e.g. a renewal by the town (GL-3), or a new selection round (SS-5)
      position: RKZR           # optional: only this position
      renewal_max_age: 40      # optional (GL-6): older than this when the new term starts → not renewed

Run once a day for every county by the workflow tick (``term_expiry_check`` is registered as a
daily check in ``app.workflows.timers``); it is idempotent: an appointment whose person already
has a case of that workflow for the year the term ends is skipped. The case gets
``position_code``, ``reference_date`` and ``term_start`` (the day after the end) where the
workflow declares those fields, so a renewal's new term starts when the old one ends.

The renewal age (``renewal_max_age``) travels the same way, in the field ``renewal_max_age``: the
workflow's renew condition compares it with the person's age on ``reference_date`` (the new
term's first day), so the rule is refused with the inputs named, and the number lives in one
place. A person already over it gets the case anyway (someone must release them), with the
reason in its first comment.

The case is due when the term ends: the inbox of the people who must act shows that date, and
if the first step is still not taken by then the tick escalates it to the next level up (督办) —
unless the first state has a timer of its own, which then decides.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import select

from app.core import clock
from app.core.errors import CountyDeskError, NotFound
from app.core.tenancy import current_tenant_id
from app.extensions import db


class SettingsError(CountyDeskError):
    """A county's workflow settings in tenant.yaml are wrong (400): the county admin fixes the file."""


class TermConfigError(SettingsError):
    """``settings.terms`` is wrong."""


@dataclass(frozen=True)
class TermRule:
    remind_days: int
    workflow: str
    position: str | None = None
    renewal_max_age: int | None = None


@dataclass
class CaseReport:
    """What a daily check that opens cases did: counted, the cases' ids, and the people it could not serve."""

    opened: int = 0
    instance_ids: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class TermReport(CaseReport):
    skipped: int = 0
    over_age: int = 0
    """Cases opened for people older than the renewal age on the new term's first day."""


def tenant_settings() -> dict[str, Any]:
    """The current county's ``settings`` section of tenant.yaml (empty when it has none)."""
    from app.core.models import Tenant

    tenant = db.session.get(Tenant, current_tenant_id())
    if tenant is None:
        raise NotFound("没有当前县（区）")
    return dict((tenant.settings or {}).get("settings") or {})


def settings_at(settings: Mapping[str, Any] | None, *keys: str) -> Any:
    """The raw value at ``settings.<keys>`` (the current county's when ``settings`` is None), None when absent.

    Every county rule reads its tenant.yaml section this way, so a missing or mistyped parent section
    reads as "not configured" instead of failing on ``.get``.
    """
    raw: Any = tenant_settings() if settings is None else settings
    for key in keys:
        raw = raw.get(key) if isinstance(raw, Mapping) else None
    return raw


def is_day_count(value: Any, low: int, high: int = 366) -> bool:
    """A whole number of days in ``low``–``high`` (YAML's ``true`` is not one)."""
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def refuse(error: type[CountyDeskError], what: str, problems: list[str]) -> None:
    """Every problem of a county's rule in one Chinese message, so the admin fixes them in one go."""
    if problems:
        raise error(f"{what}配置有误：" + "；".join(problems))


def term_rule(settings: Mapping[str, Any] | None = None) -> TermRule | None:
    """The county's rule, or None when it has none; a wrong one is an error naming the place."""
    raw = settings_at(settings, "terms")
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise TermConfigError("settings.terms：应为 {remind_days: 天数, workflow: 流程代码}")
    days, code, max_age = raw.get("remind_days"), raw.get("workflow"), raw.get("renewal_max_age")
    problems = []
    if not is_day_count(days, 1):
        problems.append(f"settings.terms.remind_days：提前天数应为 1–366 的整数（得到「{days}」）")
    if not isinstance(code, str) or not code:
        problems.append("settings.terms.workflow：缺少期满时发起的流程代码（如 renewal）")
    if max_age is not None and not is_day_count(max_age, 18, 80):
        problems.append(f"settings.terms.renewal_max_age：续聘年龄上限应为 18–80 的整数（周岁，得到「{max_age}」）")
    refuse(TermConfigError, "聘期到期", problems)
    return TermRule(int(days), str(code), raw.get("position"),  # type: ignore[arg-type]
                    None if max_age is None else int(max_age))


def open_term_cases(today: dt.date | None = None, *, commit: bool = True) -> TermReport:
    """For the current county: open the configured case for appointments ending within ``remind_days``."""
    from app.staffing.models import Appointment
    from app.workflows import services
    from app.workflows.models import WorkflowInstance
    from app.workflows.recruitment import age_on

    report = TermReport()
    rule = term_rule()
    if rule is None:
        return report
    today = today or clock.server_today()
    definition = services.load_definition(rule.workflow)
    declared = {f.code for f in definition.fields}
    tenant_id = current_tenant_id()
    a, i = Appointment.__table__, WorkflowInstance.__table__
    has_case = sa.exists(select(i.c.id).where(
        i.c.tenant_id == tenant_id, i.c.definition_code == rule.workflow, i.c.person_id == a.c.person_id,
        i.c.cycle_year == sa.cast(sa.extract("year", a.c.end_date), sa.Integer)))
    conds = [a.c.tenant_id == tenant_id, a.c.status == "active", a.c.end_date.is_not(None),
             a.c.end_date >= today, a.c.end_date <= today + dt.timedelta(days=rule.remind_days), ~has_case]
    if rule.position:
        conds.append(a.c.position_code == rule.position)
    due = db.session.execute(select(a.c.id, a.c.person_id, a.c.position_code, a.c.end_date).where(*conds)
                             .order_by(a.c.end_date, a.c.id)).all()
    births = {} if rule.renewal_max_age is None else _birth_dates({p for _a, p, _pos, _e in due})
    seen: set[tuple[int, int]] = set()
    for _appt_id, person_id, position, end in due:
        if (person_id, end.year) in seen:
            report.skipped += 1
            continue
        seen.add((person_id, end.year))
        start = end + dt.timedelta(days=1)
        after = start.isoformat()
        data = {k: v for k, v in {"position_code": position, "reference_date": after, "term_start": after,
                                  "renewal_max_age": rule.renewal_max_age}.items()
                if k in declared and v is not None}
        comment = f"聘期将于 {end.isoformat()} 届满，自动发起"
        birth = births.get(person_id)
        age = age_on(birth, start) if birth is not None else None
        if rule.renewal_max_age is not None and age is not None and age > rule.renewal_max_age:
            comment += f"；新聘期起始日（{after}）已满 {age} 周岁，超过续聘年龄上限 {rule.renewal_max_age} 周岁，" \
                       "不能续聘，应办理解聘"
            report.over_age += 1
        try:
            inst = services.start(rule.workflow, actor=services.SYSTEM, person_id=person_id, data=data,
                                  cycle_year=end.year, comment=comment, commit=False)
        except CountyDeskError as exc:
            report.problems.append(f"人员 {person_id}：{exc.message}")
            continue
        if definition.initial.timer is None:  # due when the term ends (the last day included)
            inst.due_at = dt.datetime.combine(end + dt.timedelta(days=1), dt.time())
        report.opened += 1
        report.instance_ids.append(inst.id)
    if commit:
        db.session.commit()
    return report


def _birth_dates(person_ids: set[int]) -> dict[int, dt.date | None]:
    from app.staffing.models import Person

    people = db.session.scalars(select(Person).where(Person.id.in_(person_ids))) if person_ids else []
    return {p.id: p.birth_date for p in people}


def term_expiry_check(today: dt.date) -> int:
    """The daily check run by the tick for each county: cases opened today (problems are logged)."""
    import logging

    report = open_term_cases(today)
    for problem in report.problems:
        logging.getLogger("countydesk.workflows").warning("term expiry: %s", problem)
    return report.opened

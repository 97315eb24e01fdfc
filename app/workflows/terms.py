"""Term expiry: open the county's configured case for every appointment whose term ends soon.

Configured per county (``settings.terms`` in tenant.yaml)::

    terms:
      remind_days: 60          # open the case this many days before the appointment ends
      workflow: renewal        # e.g. a renewal by the town (GL-3), or a new selection round (SS-5)
      position: RKZR           # optional: only this position

Meant to run once a day (nothing schedules it yet); it is idempotent: an appointment whose
person already has a case of that workflow for the year the term ends is skipped. The case gets
``position_code``, ``reference_date`` and ``term_start`` (the day after the end) where the
workflow declares those fields, so a renewal's new term starts when the old one ends.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import select

from app.core.errors import CountyDeskError
from app.core.tenancy import current_tenant_id
from app.extensions import db


class TermConfigError(CountyDeskError):
    status = 400


@dataclass(frozen=True)
class TermRule:
    remind_days: int
    workflow: str
    position: str | None = None


@dataclass
class TermReport:
    opened: int = 0
    skipped: int = 0
    instance_ids: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def term_rule(settings: Mapping[str, Any] | None = None) -> TermRule | None:
    """The county's rule, or None when it has none; a wrong one is an error naming the place."""
    from app.workflows.appraisal import tenant_settings

    settings = tenant_settings() if settings is None else settings
    raw = settings.get("terms") if isinstance(settings, Mapping) else None
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise TermConfigError("settings.terms：应为 {remind_days: 天数, workflow: 流程代码}")
    days, code = raw.get("remind_days"), raw.get("workflow")
    problems = []
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 366:
        problems.append(f"settings.terms.remind_days：提前天数应为 1–366 的整数（得到「{days}」）")
    if not isinstance(code, str) or not code:
        problems.append("settings.terms.workflow：缺少期满时发起的流程代码（如 renewal）")
    if problems:
        raise TermConfigError("聘期到期配置有误：" + "；".join(problems))
    return TermRule(int(days), str(code), raw.get("position"))  # type: ignore[arg-type]


def open_term_cases(today: dt.date | None = None, *, commit: bool = True) -> TermReport:
    """For the current county: open the configured case for appointments ending within ``remind_days``."""
    from app.staffing.models import Appointment
    from app.workflows import services
    from app.workflows.models import WorkflowInstance

    report = TermReport()
    rule = term_rule()
    if rule is None:
        return report
    today = today or dt.date.today()
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
    seen: set[tuple[int, int]] = set()
    for _appt_id, person_id, position, end in due:
        if (person_id, end.year) in seen:
            report.skipped += 1
            continue
        seen.add((person_id, end.year))
        after = (end + dt.timedelta(days=1)).isoformat()
        data = {k: v for k, v in {"position_code": position, "reference_date": after, "term_start": after}.items()
                if k in declared}
        try:
            inst = services.start(rule.workflow, actor=services.SYSTEM, person_id=person_id, data=data,
                                  cycle_year=end.year, comment=f"聘期将于 {end.isoformat()} 届满，自动发起",
                                  commit=False)
        except CountyDeskError as exc:
            report.problems.append(f"人员 {person_id}：{exc.message}")
            continue
        report.opened += 1
        report.instance_ids.append(inst.id)
    if commit:
        db.session.commit()
    return report

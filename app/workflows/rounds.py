"""One recruitment round as the round page shows it: posts, the posts + 1 limit, each candidate's stage
and the exam ranking (read-only; the checks themselves are in ``app.workflows.recruitment``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from app.workflows.recruitment import RoundInfo, round_info
from app.workflows.rules import Rules


@dataclass
class RoundCandidate:
    instance_id: int
    person: str
    state: str
    counted: bool
    score: float | None = None
    rank: int | None = None


@dataclass
class RoundView:
    definition_name: str
    unit_name: str
    year: int
    info: RoundInfo
    candidates: list[RoundCandidate]
    score_label: str | None = None


def round_overview(code: str, unit_code: str, position_code: str, year: int) -> RoundView:
    """One round's candidates with their stage, whether they count toward posts + 1, and the exam ranking."""
    from app.core.errors import NotFound
    from app.extensions import db
    from app.orgs.models import OrgUnit
    from app.staffing.models import Person
    from app.workflows.models import WorkflowInstance
    from app.workflows.services import load_definition

    definition = load_definition(code)
    unit = db.session.scalars(select(OrgUnit).where(OrgUnit.code == unit_code)).first()
    if unit is None:
        raise NotFound(f"没有组织机构「{unit_code}」")
    rules: Rules = definition.rules or Rules()
    info = round_info(definition, unit.id, position_code, year, {})
    rows = db.session.execute(
        select(WorkflowInstance.id, WorkflowInstance.state, WorkflowInstance.data, WorkflowInstance.definition_version,
               Person.name)
        .join(Person, Person.id == WorkflowInstance.person_id)
        .where(WorkflowInstance.definition_code == code, WorkflowInstance.org_unit_id == unit.id,
               WorkflowInstance.cycle_year == year)
        .order_by(WorkflowInstance.id)).all()
    by = rules.ranking.by if rules.ranking else None
    out = []
    for inst_id, state, data, version, name in rows:
        if (data or {}).get("position_code") != position_code:
            continue
        label = load_definition(code, version).state(state).label
        score = (data or {}).get(by) if by else None
        out.append(RoundCandidate(inst_id, name, label, state not in rules.not_counted,
                                  None if score is None else float(score)))
    scored = sorted((c for c in out if c.score is not None and c.counted), key=lambda c: -(c.score or 0))
    for c in scored:
        c.rank = 1 + sum(1 for o in scored if (o.score or 0) > (c.score or 0))
    score_label = next((f.label for f in definition.fields if f.code == by), None) if by else None
    return RoundView(definition.name, unit.name, year, info, out, score_label)

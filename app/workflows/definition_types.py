"""The parsed shape of a workflow definition: frozen dataclasses shared by the engine, timers and screens.

Kept apart from the parser (``app.workflows.definition``) so that code reading a definition does not
pull in the parsing rules, and both modules stay small enough to read in one sitting.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from app.formulas import FType, Variable
from app.formulas.formula import Formula

ROLE_LEVELS = {"county_admin": "county", "town_clerk": "town", "village_worker": "village"}
"""Roles that may act in a workflow and the org level of their scope."""
LEVELS = ("village", "town", "county")
SUBJECTS = ("person", "county", "town", "village", "group")
ESCALATE = "escalate"


@dataclass(frozen=True)
class MonthDay:
    month: int
    day: int

    def in_year(self, year: int) -> dt.date:
        return dt.date(year, self.month, self.day)

    def __str__(self) -> str:
        return f"{self.month:02d}-{self.day:02d}"


@dataclass(frozen=True)
class Timer:
    """``duration_days`` from entering the state, or a calendar ``deadline`` in the cycle year."""

    on_timeout: str
    """A transition action leaving the state, or ``escalate`` (overdue mark and notice)."""
    duration_days: int | None = None
    deadline: MonthDay | None = None
    duration_months: int | None = None
    """Calendar months from entering the state (GL-3's 2-month refill): 31 Dec + 2 months = 28/29 Feb."""

    def due_at(self, entered_at: dt.datetime, cycle_year: int) -> dt.datetime:
        if self.duration_days is not None:
            return entered_at + dt.timedelta(days=self.duration_days)
        if self.duration_months is not None:
            month0 = entered_at.month - 1 + self.duration_months
            year, month = entered_at.year + month0 // 12, month0 % 12 + 1
            last = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
            return entered_at.replace(year=year, month=month, day=min(entered_at.day, last))
        assert self.deadline is not None
        # "by 15 Nov" includes the 15th: due at the start of the next day.
        return dt.datetime.combine(self.deadline.in_year(cycle_year) + dt.timedelta(days=1), dt.time())


@dataclass(frozen=True)
class State:
    code: str
    label: str
    final: bool = False
    timer: Timer | None = None
    opens: MonthDay | None = None
    """Actions leaving this state are refused before this day of the cycle year (``10-01``)."""


@dataclass(frozen=True)
class Who:
    role: str | None = None
    level: str | None = None

    def allows(self, roles: Iterable[str]) -> bool:
        for role in roles:
            if role not in ROLE_LEVELS:
                continue
            if self.role is not None and role != self.role:
                continue
            if self.level is not None and ROLE_LEVELS[role] != self.level:
                continue
            return True
        return False

    def describe(self) -> str:
        from app.security.roles import ROLES

        if self.role:
            return ROLES[self.role].name
        return {"county": "县级", "town": "镇级", "village": "村级"}.get(self.level or "", "任何人")


@dataclass(frozen=True)
class Approval:
    """N-of-M: one vote per party; the transition fires when ``need`` approvals are in."""

    parties: tuple[str, ...]
    need: int


@dataclass(frozen=True)
class Transition:
    action: str
    label: str
    from_states: tuple[str, ...]
    to: str
    who: Who = Who()
    condition: str | None = None
    form: str | None = None
    tasks: tuple[str, ...] = ()
    approval: Approval | None = None
    approves: bool = False
    """An approval step (self-approval rule applies); N-of-M transitions always are."""
    returns: bool = False
    """Going back to an earlier state: a reason is required."""
    comment_required: bool = False
    """A step taken only with a written reason (e.g. an objection judged not to affect hiring)."""

    def refuse_without_comment(self, comment: str | None) -> str | None:
        """The Chinese refusal when this step needs a written reason and none was given, else None."""
        if (comment or "").strip():
            return None
        if self.returns:
            return f"「{self.label}」是退回，必须填写退回理由"
        if self.comment_required:
            return f"「{self.label}」必须填写意见（理由）"
        return None

    @property
    def is_approval(self) -> bool:
        return self.approves or self.approval is not None


@dataclass(frozen=True)
class FieldSpec:
    code: str
    label: str
    type: FType


@dataclass(frozen=True)
class Definition:
    code: str
    name: str
    subject: str
    states: tuple[State, ...]
    transitions: tuple[Transition, ...]
    fields: tuple[FieldSpec, ...] = ()
    allow_self_approval: bool = False
    warnings: tuple[str, ...] = ()
    _conditions: dict[str, Formula] = field(default_factory=dict, compare=False, repr=False)
    rules: Any = field(default=None, compare=False, repr=False)
    """County rules of the process (``rules:``; see ``app.workflows.rules.parse_rules``)."""

    @property
    def initial(self) -> State:
        return self.states[0]

    def state(self, code: str) -> State:
        for s in self.states:
            if s.code == code:
                return s
        raise KeyError(code)

    def transition(self, action: str) -> Transition:
        for t in self.transitions:
            if t.action == action:
                return t
        raise KeyError(action)

    def transitions_from(self, state: str) -> list[Transition]:
        return [t for t in self.transitions if state in t.from_states]

    def condition(self, action: str) -> Formula | None:
        return self._conditions.get(action)

    def variables(self) -> list[Variable]:
        return condition_variables(self.subject, self.fields)


def condition_variables(subject: str, fields: Iterable[FieldSpec]) -> list[Variable]:
    """What a condition may use: the instance's declared data fields, then the subject's variables."""
    from app.orgs.variables import ORG_UNIT_VARIABLES
    from app.staffing.variables import PERSON_VARIABLES

    own = [Variable(f.code, f.label, f.type) for f in fields]
    taken = {v.code for v in own} | {v.label for v in own}
    subject_vars = PERSON_VARIABLES if subject == "person" else ORG_UNIT_VARIABLES
    return own + [v for v in subject_vars if v.code not in taken and v.label not in taken]

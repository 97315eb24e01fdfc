"""Workflow storage: versioned definitions, running instances, immutable steps, N-of-M votes,
escalation notices (督办) and the bookkeeping of the daily checks.

An instance keeps the definition version it started with, so a county changing its process
never rewrites a case in flight. Steps are the history (append-only; only the bookkeeping of
their side-effect tasks is updated). Every table leads its indexes with ``tenant_id``; the
(tenant, state, due_at) index serves timers and inboxes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.models import TenantScoped
from app.extensions import db
from app.orgs.models import OrgUnit
from app.staffing.models import Person


class WorkflowDefinition(TenantScoped, db.Model):  # type: ignore[name-defined]
    """One version of a county's workflow; a change is a new row, never an overwrite."""

    __tablename__ = "workflow_definition"
    __table_args__ = (UniqueConstraint("tenant_id", "code", "version", name="uq_workflow_definition_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    """The definition as written in tenant.yaml (parsed again with ``parse_definition``)."""
    created_at: Mapped[dt.datetime | None] = mapped_column(DateTime, server_default=func.current_timestamp())
    created_by: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))

    def __repr__(self) -> str:
        return f"{self.name} v{self.version}"


class WorkflowInstance(TenantScoped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "workflow_instance"
    __table_args__ = (
        Index("ix_workflow_instance_tenant_state_due", "tenant_id", "state", "due_at"),
        Index("ix_workflow_instance_tenant_def_state", "tenant_id", "definition_code", "state"),
        Index("ix_workflow_instance_tenant_org", "tenant_id", "org_unit_id"),
    )
    __scope_org_attr__ = "org_unit_id"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    definition_code: Mapped[str] = mapped_column(String(64), nullable=False)
    definition_version: Mapped[int] = mapped_column(Integer, nullable=False)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="RESTRICT"))
    subject_org_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id", ondelete="RESTRICT"))
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id", ondelete="RESTRICT"), nullable=False)
    """Where the case is handled (the person's village, or the subject unit): decides who may act."""
    cycle_year: Mapped[int] = mapped_column(Integer, nullable=False)
    """The year calendar deadlines (``11-15``) and openings (``10-01``) fall in."""
    state: Mapped[str] = mapped_column(String(64), nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    state_entered_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    due_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    overdue: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default="0")
    step_seq: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    """Number of transitions so far: votes belong to one visit of a state."""
    row_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")
    last_user_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    """Who made the last transition: the self-approval rule is checked set-based in bulk approval."""
    created_at: Mapped[dt.datetime | None] = mapped_column(DateTime, server_default=func.current_timestamp())
    created_by: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))

    person: Mapped[Person | None] = relationship(foreign_keys=[person_id])
    org_unit: Mapped[OrgUnit] = relationship(foreign_keys=[org_unit_id])

    def __repr__(self) -> str:
        return f"{self.definition_code}#{self.id}"


class WorkflowStep(TenantScoped, db.Model):  # type: ignore[name-defined]
    """One transition (or timer event) in an instance's history, with the data as it was then."""

    __tablename__ = "workflow_step"
    __table_args__ = (Index("ix_workflow_step_tenant_instance", "tenant_id", "instance_id", "id"),)
    __scope_org_attr__ = "org_unit_id"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("workflow_instance.id", ondelete="CASCADE"), nullable=False)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id", ondelete="RESTRICT"), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    from_state: Mapped[str | None] = mapped_column(String(64))
    to_state: Mapped[str] = mapped_column(String(64), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    """A transition action, ``start``, ``vote``, ``timeout`` or ``escalate``."""
    user_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    comment: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    tasks: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """Side-effect tasks of this step: name -> {status, attempts, error}."""


class WorkflowVote(TenantScoped, db.Model):  # type: ignore[name-defined]
    """A party's opinion in an N-of-M approval; one per party and visit of the state."""

    __tablename__ = "workflow_vote"
    __table_args__ = (
        UniqueConstraint("tenant_id", "instance_id", "step_seq", "party", name="uq_workflow_vote_party"),
    )
    __scope_org_attr__ = "org_unit_id"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("workflow_instance.id", ondelete="CASCADE"), nullable=False)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id", ondelete="RESTRICT"), nullable=False)
    step_seq: Mapped[int] = mapped_column(Integer, nullable=False)
    state: Mapped[str] = mapped_column(String(64), nullable=False)
    party: Mapped[str] = mapped_column(String(64), nullable=False)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    decision: Mapped[str] = mapped_column(String(16), nullable=False)
    """``approve`` or ``reject``."""
    comment: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)


class WorkflowNotice(TenantScoped, db.Model):  # type: ignore[name-defined]
    """An overdue case put before the next org level up (督办), open until someone acts on the case.

    Addressed to a role at an org unit (the case's town, or the county) rather than to named users:
    whoever holds that role there sees it, also people appointed after the timer fired. One notice
    per case and visit of a state (``step_seq``), so a timer firing twice cannot notify twice.
    """

    __tablename__ = "workflow_notice"
    __table_args__ = (
        UniqueConstraint("tenant_id", "instance_id", "step_seq", "kind", name="uq_workflow_notice_visit"),
        Index("ix_workflow_notice_tenant_open", "tenant_id", "target_role", "resolved_at"),
    )
    __scope_org_attr__ = "org_unit_id"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("workflow_instance.id", ondelete="CASCADE"), nullable=False)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id", ondelete="RESTRICT"), nullable=False)
    """The case's unit (where it is handled)."""
    target_org_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id", ondelete="RESTRICT"), nullable=False)
    """The unit one level above the people who should have acted (the case's town, or the county)."""
    target_role: Mapped[str] = mapped_column(String(32), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    """``escalation`` (a missed deadline)."""
    state: Mapped[str] = mapped_column(String(64), nullable=False)
    step_seq: Mapped[int] = mapped_column(Integer, nullable=False)
    due_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    message: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))

    instance: Mapped[WorkflowInstance] = relationship(foreign_keys=[instance_id])


class WorkflowDailyCheck(TenantScoped, db.Model):  # type: ignore[name-defined]
    """The last day a daily check (term expiry, …) ran for a county: the tick runs each once a day.

    Claimed by a conditional UPDATE before the check runs, so two ticks at once (the CLI and the
    scheduler) run it once. Bookkeeping, not county data: not audited.
    """

    __tablename__ = "workflow_daily_check"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_workflow_daily_check_name"),)
    __audited__ = False

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    last_day: Mapped[dt.date] = mapped_column(Date, nullable=False)
    ran_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    result: Mapped[int | None] = mapped_column(Integer)
    """What the check reported (e.g. cases opened)."""
    error: Mapped[str | None] = mapped_column(Text)

"""Appraisal results per person and period: what pay rules and term decisions read later.

One row per (person, scheme, period): ``period`` is a year (``2025``, SS-7's annual grade) or a
month (``2025-03``, GL-5/CC-3's monthly score). A term-end appraisal (SS-7 聘期考核) is a year row
under the county's own term-end scheme (e.g. ``SS7-TERM``), so a pay rule tells it from the annual
grade by ``scheme`` alone. Rows are written by the appraisal services only (a finished case, a
monthly scoring, the annual derivation), so the screen and API are read-only;
``source_instance_id`` names the case a grade came from.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Double, ForeignKey, Index, Integer, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.models import TenantScoped
from app.extensions import db
from app.orgs.models import OrgUnit
from app.staffing.models import Appointment, Person
from app.workflows.models import WorkflowInstance


class AppraisalResult(TenantScoped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "appraisal_result"
    __table_args__ = (
        UniqueConstraint("tenant_id", "person_id", "scheme", "period", name="uq_appraisal_result_person_period"),
        Index("ix_appraisal_result_tenant_scheme_period", "tenant_id", "scheme", "period"),
    )
    __scope_org_attr__ = "org_unit_id"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), nullable=False)
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointment.id", ondelete="SET NULL"))
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id", ondelete="RESTRICT"), nullable=False)
    """The village the person served in: the town ranking and the clerks' scope follow it."""
    period: Mapped[str] = mapped_column(String(7), nullable=False)
    scheme: Mapped[str] = mapped_column(String(32), nullable=False)
    scores: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    total: Mapped[float | None] = mapped_column(Double)
    grade: Mapped[str | None] = mapped_column(String(16))
    rank_in_town: Mapped[int | None] = mapped_column(Integer)
    rank_in_county: Mapped[int | None] = mapped_column(Integer)
    last_place: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default="0")
    """The county's 末位淘汰 rule flagged this result."""
    source_instance_id: Mapped[int | None] = mapped_column(ForeignKey("workflow_instance.id", ondelete="SET NULL"))
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, server_default=func.current_timestamp())

    person: Mapped[Person] = relationship()
    org_unit: Mapped[OrgUnit] = relationship()
    appointment: Mapped[Appointment | None] = relationship()
    source_instance: Mapped[WorkflowInstance | None] = relationship()

    def audit_snapshot(self, values: dict[str, Any]) -> dict[str, Any]:
        """The history shows the scores as one readable line, like the show page."""
        out = dict(values)
        if isinstance(out.get("scores"), dict):
            out["scores"] = "；".join(f"{k}：{v}" for k, v in out["scores"].items())
        return out

    @property
    def scores_text(self) -> str:
        """The stored scores or case fields as one line (``de：80；neng：75``) for the show page."""
        return "；".join(f"{k}：{v}" for k, v in (self.scores or {}).items())

    def __repr__(self) -> str:
        return f"{self.person_id}:{self.scheme}@{self.period}"

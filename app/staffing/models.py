"""Positions, people and their appointments (the minimal roster; deepened by later capabilities)."""

from __future__ import annotations

import datetime as dt

from flask_babel import gettext
from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from app.core.idcard import mask_id_number, parse_id_number
from app.core.models import TenantScoped
from app.extensions import db
from app.orgs.models import OrgUnit
from app.staffing import pii

APPOINTMENT_STATUS_LABELS = {"active": "在岗", "ended": "期满离任", "dismissed": "解聘"}
APPOINTMENT_STATUSES = tuple(APPOINTMENT_STATUS_LABELS)
EDUCATION_CHOICES = ("小学", "初中", "高中", "中专", "大专", "本科", "研究生")


class Position(TenantScoped, db.Model):  # type: ignore[name-defined]
    """A post a county staffs (e.g. 村级人口主任), as configured in its tenant.yaml."""

    __tablename__ = "position"
    __table_args__ = (UniqueConstraint("tenant_id", "code", name="uq_position_tenant_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), nullable=False)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    org_level: Mapped[str] = mapped_column(String(16), nullable=False)
    quota_formula: Mapped[str | None] = mapped_column(Text)
    eligibility_formula: Mapped[str | None] = mapped_column(Text)
    term_years: Mapped[int | None] = mapped_column(Integer)
    rehire_ban_years: Mapped[int | None] = mapped_column(Integer)

    def __repr__(self) -> str:
        return self.name


class Person(TenantScoped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "person"
    __table_args__ = (UniqueConstraint("tenant_id", "id_number", name="uq_person_tenant_id_number"),)
    __scope_org_attr__ = "org_unit_id"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    id_number: Mapped[str] = mapped_column(String(18), nullable=False)
    sex: Mapped[str] = mapped_column(String(2), nullable=False)
    birth_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    education: Mapped[str | None] = mapped_column(String(8))
    phone: Mapped[str | None] = mapped_column(String(20))
    bank_card: Mapped[str | None] = mapped_column(String(32))
    org_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id", ondelete="SET NULL"))
    """The village the person lives in (SS-2 requires residence in the village)."""
    row_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")
    extra: Mapped[dict[str, object] | None] = mapped_column(db.JSON)

    org_unit: Mapped[OrgUnit | None] = relationship()
    appointments: Mapped[list[Appointment]] = relationship(back_populates="person")

    @validates("id_number")
    def _derive_from_id_number(self, key: str, value: str) -> str:
        """Birth date and sex are read from the ID number, never typed in twice."""
        info = parse_id_number(value)
        self.birth_date = info.birth_date
        self.sex = info.sex
        return info.number

    @property
    def id_number_masked(self) -> str:
        return mask_id_number(self.id_number)

    # As the current user may see them (``app.staffing.pii``): full for who keeps them, else masked.
    @property
    def phone_shown(self) -> str | None:
        return pii.shown(self, "phone")

    @property
    def bank_card_shown(self) -> str | None:
        return pii.shown(self, "bank_card")

    def __repr__(self) -> str:
        return self.name


class Appointment(TenantScoped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "appointment"
    __table_args__ = (
        Index("ix_appointment_tenant_org", "tenant_id", "org_unit_id"),
        Index("ix_appointment_tenant_person", "tenant_id", "person_id"),
    )
    __scope_org_attr__ = "org_unit_id"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), nullable=False)
    position_code: Mapped[str] = mapped_column(String(32), nullable=False)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id", ondelete="RESTRICT"), nullable=False)
    start_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")
    row_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")
    extra: Mapped[dict[str, object] | None] = mapped_column(db.JSON)

    person: Mapped[Person] = relationship(back_populates="appointments")
    org_unit: Mapped[OrgUnit] = relationship()

    @property
    def status_label(self) -> str:
        return gettext(APPOINTMENT_STATUS_LABELS.get(self.status, self.status))

    def __repr__(self) -> str:
        return f"{self.person_id}:{self.position_code}"

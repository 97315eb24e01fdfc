"""Reading computed quotas for people: drill-down from a unit to its children, and the xlsx export.

Both read through the ORM, so the tenant filter of the data layer applies: a quota row of
another county is simply not found (the view answers 404), and an export holds only the
current county's rows.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import aliased

from app.extensions import db
from app.orgs.models import OrgUnit
from app.staffing.quota_models import StaffingQuota

EXPORT_HEADERS = ("组织机构代码", "组织机构", "岗位", "定额", "在岗人数", "空缺", "超编", "规则版本")
"""A text cell starting with one of these would be read as a formula by a spreadsheet program."""


@dataclass
class DrillDown:
    row: StaffingQuota
    parent: StaffingQuota | None
    """The same position and period at the unit above (None at the top)."""
    children: list[StaffingQuota]
    """The same position and period at the units directly below, by org path."""


def drill_down(quota_id: int) -> DrillDown | None:
    """A quota row with its parent's and its children's rows (same position and period), or None."""
    row = db.session.get(StaffingQuota, quota_id)
    if row is None:
        return None
    child = aliased(OrgUnit)
    children = list(db.session.scalars(
        select(StaffingQuota).join(child, child.id == StaffingQuota.org_unit_id)
        .where(child.parent_id == row.org_unit_id, StaffingQuota.position_id == row.position_id,
               StaffingQuota.period == row.period)
        .order_by(child.path)))
    parent = None
    parent_unit_id = row.org_unit.parent_id if row.org_unit is not None else None
    if parent_unit_id is not None:
        parent = db.session.scalar(select(StaffingQuota).where(
            StaffingQuota.org_unit_id == parent_unit_id, StaffingQuota.position_id == row.position_id,
            StaffingQuota.period == row.period))
    return DrillDown(row, parent, children)


def export_rows(quotas: Iterable[StaffingQuota]) -> list[tuple[Any, ...]]:
    """The export's cells for each quota row, in the order of ``EXPORT_HEADERS``."""
    out = []
    for q in quotas:
        unit, position = q.org_unit, q.position
        out.append((unit.code if unit else None, unit.name if unit else None, position.name if position else None,
                    _number(q.quota), q.staffed, _number(q.vacant), _number(q.over), q.rule_version))
    return out


def _number(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


def write_quota_xlsx(rows: Iterable[tuple[Any, ...]], *, title: str = "编制定额") -> bytes:
    """An xlsx workbook of quota rows under Chinese headers; text is always written as text.

    Org unit and position names come from county files: a name such as ``=HYPERLINK(…)`` must
    reach the reader as the characters typed, never as a formula the spreadsheet would run.
    """
    from openpyxl import Workbook

    from app.core.text_rules import spreadsheet_safe
    from app.core.xlsx_export import is_dangerous

    book = Workbook()
    sheet = book.active
    sheet.title = title[:31]
    sheet.append(list(EXPORT_HEADERS))  # the headers a county office files the sheet under, in Chinese
    for values in rows:
        sheet.append([spreadsheet_safe(v) if isinstance(v, str) else v for v in values])
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str) and is_dangerous(cell.value):
                cell.data_type = "s"  # openpyxl would otherwise store "=…" as a formula
                cell.quotePrefix = True  # and spreadsheet programs keep "+…", "-…", "@…" as text
    for column, width in zip("ABCDEFGH", (16, 24, 24, 8, 10, 8, 8, 10), strict=True):
        sheet.column_dimensions[column].width = width
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()

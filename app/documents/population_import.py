"""Population facts (one row per org unit and period) as an importable kind of row.

Same rules as ``population.csv`` of a tenant folder, with Chinese column headers; the tenancy
guard still decides who may write which village (a village worker only its own).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.text_rules import ascii_digits
from app.documents.importer import ImportColumn, ImportCounts, ImportProblem, upsert_by_key
from app.orgs.models import POPULATION_FIELDS, POPULATION_LABELS, OrgUnit, PopulationFact
from app.tenantio.folder import MAX_COUNT, NUMBER_RE, PERIOD_RE


class PopulationImport:
    title = "人口数据"

    def __init__(self) -> None:
        self.columns = [
            ImportColumn("单位代码", "org_code", True, "组织机构代码（本县已有的镇、村代码），如 350581001001"),
            ImportColumn("期间", "period", True, "年份 2025 或年月 2025-03"),
            *(ImportColumn(POPULATION_LABELS[f], f, False, "非负整数，可留空") for f in POPULATION_FIELDS),
        ]
        self._org_ids: dict[str, int] | None = None

    def org_ids(self) -> dict[str, int]:
        if self._org_ids is None:
            from app.extensions import db

            self._org_ids = {code: id_ for code, id_ in db.session.execute(select(OrgUnit.code, OrgUnit.id))}
        return self._org_ids

    def parse(self, row: dict[str, str]) -> tuple[dict[str, Any] | None, list[ImportProblem]]:
        problems: list[ImportProblem] = []
        # full-width digits typed with a Chinese input method mean the same unit and period (no phantom ２０２５)
        code, period = ascii_digits(row["org_code"].strip()), ascii_digits(row["period"].strip())
        org_id = self.org_ids().get(code)
        if not code:
            problems.append(ImportProblem(None, "单位代码", code, "单位代码不能为空"))
        elif org_id is None:
            problems.append(ImportProblem(None, "单位代码", code, "本县没有这个单位代码"))
        if not PERIOD_RE.match(period):
            problems.append(ImportProblem(None, "期间", period, "期间无效，应为年份 2025 或年月 2025-03"))
        clean: dict[str, Any] = {"org_unit_id": org_id, "period": period}
        for f in POPULATION_FIELDS:
            text = ascii_digits((row.get(f) or "").strip()).replace(",", "").replace("，", "")
            if not text:
                clean[f] = None
                continue
            label = POPULATION_LABELS[f]
            if not NUMBER_RE.fullmatch(text):  # not str.isdigit: it takes "²" and "١", which int() refuses
                problems.append(ImportProblem(None, label, row.get(f), "应为非负整数，不能有小数或负号"))
            elif len(text) > 9 or int(text) > MAX_COUNT:
                problems.append(ImportProblem(None, label, row.get(f), f"数值过大（超过 {MAX_COUNT}）"))
            else:
                clean[f] = int(text)
        return (None if problems else clean), problems

    def key(self, clean: dict[str, Any]) -> Hashable:
        return (clean["org_unit_id"], clean["period"])

    def apply(self, rows: list[dict[str, Any]], session: Session) -> ImportCounts:
        units = {unit.id: unit for unit in session.scalars(select(OrgUnit))}

        def build(values: dict[str, Any]) -> PopulationFact:
            fields = {k: v for k, v in values.items() if k != "org_unit_id"}
            return PopulationFact(org_unit=units[values["org_unit_id"]], **fields)

        return upsert_by_key(session, PopulationFact, ("org_unit_id", "period"), rows, build=build)

"""Demo records for the monthly village forms: some reports on time, some late, some drafts, some missing.

Which months: those of the year up to last month on the county's clock (``today`` comes from the
caller; in January, all of last year), so a newcomer lands on a current period with something to chase.
Why deterministic: the completeness screen of ``bin/demo`` should show the same figures on every
machine and after every reload, so each unit and month is classified by a hash of (form, unit,
period), not by a random draw. Loading again adds nothing (records are keyed like real ones).
Values are generated from the definition alone (required fields only) and kept only if the form's
cross-field rules hold, so any county's monthly form gets demo data without code.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from sqlalchemy import insert, select

from app.core.tenancy import current_tenant_id
from app.extensions import db
from app.forms.definition import FORMULA_TYPES, FieldDef, FormDef
from app.forms.models import FormRecord
from app.forms.services import current_forms, due_date, period_end
from app.formulas import FormulaError, FType, compile_formula
from app.orgs.models import OrgUnit


def demo_periods(today: dt.date) -> list[str]:
    """The months before ``today``'s month in its year; in January the twelve months of last year."""
    if today.month == 1:
        return [f"{today.year - 1}-{m:02d}" for m in range(1, 13)]
    return [f"{today.year}-{m:02d}" for m in range(1, today.month)]


def _bucket(*parts: object) -> int:
    """0–99, stable across runs and machines."""
    return int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:8], 16) % 100


def _status(form: FormDef, town_index: int, unit_code: str, period: str, latest: bool) -> str:
    """on_time / late / draft / missing; the latest month and later towns report worse (something to chase)."""
    h = _bucket(form.code, unit_code, period)
    slack = 4 * (town_index % 4) + (15 if latest else 0)
    if h < 6 + slack:
        return "missing"
    if h < 9 + slack:
        return "draft"
    if h < 22 + slack:
        return "late"
    return "on_time"


def _value(f: FieldDef, base: int, rank: int, period_start: dt.date) -> Any:
    if f.type in ("integer", "decimal", "money"):
        value = base * (2 ** rank)
        if f.min is not None:
            value = max(value, int(f.min))
        if f.max is not None:
            value = min(value, int(f.max))
        return value
    if f.type == "date":
        return (period_start + dt.timedelta(days=base)).isoformat()
    if f.type == "boolean":
        return True
    if f.type == "choice":
        return f.choices[0]
    if f.type == "multichoice":
        return [f.choices[0]]
    if f.type in ("text", "textarea"):
        return "演示数据"[: f.text_limit]
    return None


def _rules_hold(form: FormDef, data: dict[str, Any]) -> bool:
    from app.hooks.formulas import formula_registry

    inputs = {f.code: (float(data[f.code]) if FORMULA_TYPES[f.type] is FType.NUMBER and data.get(f.code) is not None
                       else data.get(f.code)) for f in form.fields if f.type in FORMULA_TYPES}
    for rule in form.rules:
        try:
            if compile_formula(rule.check, form.variables(), formula_registry()).compute(inputs) is False:
                return False
        except FormulaError:
            return False
    return True


def sample_data(form: FormDef, period: str, seed: int) -> dict[str, Any] | None:
    """Values for the required fields that pass the form's rules (None if no simple guess does)."""
    start = period_end(form.periodicity, period).replace(day=1)
    required = [f for f in form.fields if f.required]
    numeric = [f for f in required if f.type in ("integer", "decimal", "money")]
    base = 3 + seed % 7
    # Rules are mostly "part <= whole": try wholes first (descending), then ascending, then all equal.
    for order in ("down", "up", "flat"):
        data: dict[str, Any] = {f.code: None for f in form.fields}
        for f in required:
            i = numeric.index(f) if f in numeric else 0
            rank = {"down": len(numeric) - 1 - i, "up": i, "flat": 0}[order]
            data[f.code] = _value(f, base, rank, start)
        if _rules_hold(form, data):
            return data
    return None


def load_demo_records(today: dt.date) -> int:
    """Add the current tenant's demo reports for every monthly village form and month of ``demo_periods``."""
    tenant_id = current_tenant_id()
    units = db.session.execute(select(OrgUnit.id, OrgUnit.code, OrgUnit.path, OrgUnit.level)
                               .where(OrgUnit.level.in_(("town", "village"))).order_by(OrgUnit.path)).all()
    towns = [u.path for u in units if u.level == "town"]
    villages = [u for u in units if u.level == "village"]
    periods = demo_periods(today)
    added = 0
    for live in current_forms():
        form = live.form
        if form.periodicity != "monthly" or form.target != "village" or form.due_day is None:
            continue
        existing = set(db.session.scalars(select(FormRecord.natural_key).where(
            FormRecord.form_code == form.code, FormRecord.period.in_(periods))))
        rows = []
        for period in periods:
            due = due_date(form, period)
            assert due is not None
            for v in villages:
                key = f"o{v.id}|{period}"
                town_index = next((i for i, p in enumerate(towns) if v.path.startswith(p)), 0)
                status = _status(form, town_index, v.code, period, period == periods[-1])
                if key in existing or status == "missing":
                    continue
                seed = _bucket("seed", form.code, v.code, period)
                data = sample_data(form, period, seed)
                if data is None:
                    break
                days = 1 + seed % 9
                submitted = (None if status == "draft" else
                             dt.datetime.combine(due - dt.timedelta(days=days % 5), dt.time(10, seed % 60))
                             if status == "on_time" else
                             dt.datetime.combine(due + dt.timedelta(days=days), dt.time(15, seed % 60)))
                if submitted is not None and submitted.date() >= today:
                    continue  # not reported yet on the demo's today: it shows as outstanding
                rows.append({"tenant_id": tenant_id, "form_code": form.code, "form_version": live.version,
                             "org_unit_id": v.id, "period": period, "natural_key": key, "data": data,
                             "status": "draft" if status == "draft" else "submitted", "submitted_at": submitted,
                             "created_at": submitted or dt.datetime.combine(min(due, today), dt.time(9)),
                             "row_version": 1})
        if rows:
            db.session.execute(insert(FormRecord), rows)
            added += len(rows)
    db.session.commit()
    return added

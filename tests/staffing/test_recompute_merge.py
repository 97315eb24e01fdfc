"""A recompute writes only what differs: unchanged rows keep id and ``computed_at``, stale rows go."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import delete, select, text, update
from staffing_support import load, quota_rows, raw_quota_rows, recompute

from app.extensions import db
from app.orgs.models import OrgUnit, PopulationFact
from app.staffing.models import Position
from app.staffing.quota_models import PositionRule

VILLAGE, TOWN, COUNTY = "350581106212", "350581106", "350581"  # 外高村: 800 residents → SS-1 quota 1


@pytest.fixture(autouse=True)
def explicit_recomputes_only(app, monkeypatch):
    """The data is edited behind the ORM's back here; only the recomputes these tests run should happen."""
    monkeypatch.setitem(app.config, "STAFFING_AUTO_RECOMPUTE", False)


@contextmanager
def _unscoped() -> Iterator[Any]:
    """A plain Core transaction across row-level security (as a data fix behind the screens would be)."""
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT set_config('countydesk.all_tenants', 'on', true)"))
        yield conn


def _write(statement: Any) -> None:
    with _unscoped() as conn:
        conn.execute(statement)


def _one(statement: Any) -> Any:
    with _unscoped() as conn:
        return conn.execute(statement).scalar_one()


def _unit_id(tenant_id: int, code: str) -> int:
    return _one(select(OrgUnit.id).where(OrgUnit.tenant_id == tenant_id, OrgUnit.code == code))


def _by_id(rows: list[Any]) -> dict[int, Any]:
    return {row.id: row for row in rows}


def test_ss1_recompute_rewrites_only_the_rows_whose_inputs_changed(app, copy_tenant):
    folder = copy_tenant("shishi", "ss_merge")
    with app.app_context():
        tenant_id = load(folder)
        first = recompute(tenant_id, "2025")
        assert first.changed == first.rows + first.rollup_rows == len(raw_quota_rows(tenant_id))
        before = _by_id(raw_quota_rows(tenant_id))

        again = recompute(tenant_id, "2025")
        assert again.changed == 0 and again.rows == first.rows
        assert _by_id(raw_quota_rows(tenant_id)) == before  # same ids, same computed_at

        facts = PopulationFact.__table__
        _write(update(facts).where(facts.c.org_unit_id == _unit_id(tenant_id, VILLAGE), facts.c.period == "2025")
               .values(resident_pop=3200))
        third = recompute(tenant_id, "2025")
        after = _by_id(raw_quota_rows(tenant_id))
        rows = quota_rows(tenant_id, "2025")
        moved = [row for row_id, row in after.items() if row != before.get(row_id)]
        units = {_one(select(OrgUnit.code).where(OrgUnit.id == row.org_unit_id)) for row in moved}
    assert third.changed == 3  # the village, its town and the county
    assert after.keys() == before.keys()  # updated in place: every row kept its id
    assert units == {VILLAGE, TOWN, COUNTY}
    assert rows[(VILLAGE, "XGY")].quota == 3 and rows[(VILLAGE, "XGY")].inputs["resident_pop"] == 3200
    assert rows[(TOWN, "XGY")].quota == sum(r.quota for r in rows.values() if r.parent_code == TOWN)


def test_rows_no_longer_computed_are_deleted_and_others_kept(app, copy_tenant):
    folder = copy_tenant("guanling", "gl_merge")
    with app.app_context():
        tenant_id = load(folder)
        recompute(tenant_id, "2025")
        before = raw_quota_rows(tenant_id)
        pos = Position.__table__
        gone = _one(select(pos.c.id).where(pos.c.tenant_id == tenant_id, pos.c.code == "JSBGW"))
        rules = PositionRule.__table__
        _write(update(pos).where(pos.c.id == gone).values(quota_formula=None))  # no rule at all any more
        _write(delete(rules).where(rules.c.position_id == gone, rules.c.kind == "quota"))
        report = recompute(tenant_id, "2025")
        after = raw_quota_rows(tenant_id)
        _write(update(pos).where(pos.c.tenant_id == tenant_id).values(quota_formula=None))
        _write(delete(rules).where(rules.c.tenant_id == tenant_id, rules.c.kind == "quota"))
        nothing = recompute(tenant_id, "2025")  # no rule in force at all: every row goes
        left = raw_quota_rows(tenant_id)
    removed = [row for row in before if row.position_id == gone]
    assert removed and report.changed == len(removed)
    assert after == [row for row in before if row.position_id != gone]
    assert nothing.rows == 0 and nothing.changed == len(after) and left == []

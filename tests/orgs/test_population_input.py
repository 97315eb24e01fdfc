"""Population facts feed the quota formulas: a negative count is refused on the screen and the API."""

from __future__ import annotations

from sqlalchemy import select

from app.core.tenancy import tenant_context
from app.extensions import db
from app.orgs.models import POPULATION_FIELDS, PopulationFact
from support import login


def _fact(app, tenant_id: int) -> tuple[int, int | None]:
    with app.app_context(), tenant_context(tenant_id):
        fact = db.session.scalars(select(PopulationFact).order_by(PopulationFact.id)).first()
        assert fact is not None
        return fact.id, fact.households


def _form(app, tenant_id: int, fact_id: int) -> dict[str, str]:
    with app.app_context(), tenant_context(tenant_id):
        fact = db.session.get(PopulationFact, fact_id)
        data = {f: str(getattr(fact, f) or 0) for f in POPULATION_FIELDS}
        return {**data, "org_unit": str(fact.org_unit_id), "period": fact.period}


def test_negative_population_is_refused_by_the_api_in_chinese_and_nothing_changes(app, demo, client):
    login(client, "ss_admin")
    fact_id, households = _fact(app, demo["tenant_ids"]["shishi"])
    answer = client.put(f"/api/v1/population_fact/{fact_id}", json={"households": -5})
    assert answer.status_code in (400, 422)
    assert answer.get_json()["message"]["households"] == ["人口数不能为负数"]
    assert _fact(app, demo["tenant_ids"]["shishi"])[1] == households


def test_negative_population_is_refused_on_the_screen_and_nothing_changes(app, demo, client):
    login(client, "ss_admin")
    tenant_id = demo["tenant_ids"]["shishi"]
    fact_id, households = _fact(app, tenant_id)
    data = {**_form(app, tenant_id, fact_id), "households": "-5"}
    answer = client.post(f"/populationfactview/edit/{fact_id}", data=data)
    assert "人口数不能为负数" in answer.get_data(as_text=True)
    assert _fact(app, tenant_id)[1] == households

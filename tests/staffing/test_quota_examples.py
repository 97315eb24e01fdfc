"""Worked examples of the staffing rules on the demo counties (SS-1, GL-1, CC-1, Guanling's town office).

Every expectation is derived independently of the SQL back end: bracket edges from DOMAIN.md,
staffed counts from roster.csv with the documented definition, rollups from the children's rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import math

import pytest
from staffing_support import add_position, edit_population, load, quota_rows, recompute

from app.staffing.rules import compile_rule
from support import TENANTS

PERIOD = "2025"
JUDGED = dt.date(2025, 12, 31)


def _csv(slug: str, name: str) -> list[dict[str, str]]:
    with (TENANTS / slug / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _village_with(slug: str, field: str, value: int) -> str:
    rows = [r["org_code"] for r in _csv(slug, "population.csv") if r["period"] == PERIOD and int(r[field]) == value]
    assert rows, f"no {slug} village with {field} = {value} in {PERIOD}"
    return rows[0]


def _expected_staffed(slug: str) -> dict[tuple[str, str], int]:
    """The documented definition, applied to roster.csv: started by D, and active or ended/dismissed after D."""
    counts: dict[tuple[str, str], int] = {}
    for r in _csv(slug, "roster.csv"):
        start = dt.date.fromisoformat(r["start"])
        end = dt.date.fromisoformat(r["end"]) if r["end"] else None
        if start <= JUDGED and (r["status"] == "active" or (end is not None and end >= JUDGED)):
            key = (r["org_code"], r["position_code"])
            counts[key] = counts.get(key, 0) + 1
    return counts


@pytest.fixture(scope="module")
def rows(app, demo):
    with app.app_context():
        out = {}
        for slug, tenant_id in demo["tenant_ids"].items():
            recompute(tenant_id, PERIOD)
            out[slug] = quota_rows(tenant_id, PERIOD)
        return out


@pytest.mark.parametrize("resident, quota", [(800, 1), (1500, 1), (1501, 2), (3200, 3)])
def test_ss1_one_assistant_per_1500_resident_under_1500_counts_as_1500(rows, resident, quota):
    row = rows["shishi"][(_village_with("shishi", "resident_pop", resident), "XGY")]
    assert row.quota == quota
    assert row.inputs == {"resident_pop": resident, "fact_period": PERIOD}
    assert (row.rule_version, row.rule_formula) == (1, "MAX(1, CEILING(计生常住人口 / 1500))")


@pytest.mark.parametrize("registered, quota", [(2000, 1), (2001, 2), (5000, 2), (5001, 3)])
def test_gl1_directors_by_registered_population_brackets(rows, registered, quota):
    row = rows["guanling"][(_village_with("guanling", "registered_pop", registered), "RKZR")]
    assert row.quota == quota
    assert row.inputs == {"registered_pop": registered, "fact_period": PERIOD}
    assert row.rule_formula == "BRACKETS(户籍人口, 2000, 1, 5000, 2, 3)"


def test_guanling_town_office_rule_three_civil_servants_and_two_institution_staff_per_town(rows):
    """DOMAIN §4: a town FP office has ≥ 5 staff — 3 civil servants (JSBGW) + 2 institution staff (JSBSY)."""
    towns = [r["code"] for r in _csv("guanling", "orgunits.csv") if r["level"] == "town"]
    gl = rows["guanling"]
    assert [gl[(code, "JSBGW")].quota for code in towns] == [3] * len(towns)
    assert [gl[(code, "JSBSY")].quota for code in towns] == [2] * len(towns)
    assert all(gl[(code, "JSBGW")].quota + gl[(code, "JSBSY")].quota == 5 for code in towns)
    county = next(r["code"] for r in _csv("guanling", "orgunits.csv") if r["level"] == "county")
    assert gl[(county, "JSBGW")].quota == 3 * len(towns)
    assert gl[(county, "JSBSY")].quota == 2 * len(towns)
    assert not any(code == "XJSB" for _, code in gl)  # the single 5-person post is gone
    for fact in _csv("guanling", "population.csv"):
        if fact["period"] == PERIOD:
            assert gl[(fact["org_code"], "YFZZ")].quota == int(fact["groups"])  # one per village group
            assert gl[(fact["org_code"], "TGJSY")].quota == 1  # the text formula "1": one per village


def test_sql_quotas_equal_the_python_back_end_on_every_village(rows):
    for slug, code in (("shishi", "XGY"), ("guanling", "RKZR"), ("guanling", "YFZZ")):
        formula = compile_rule("quota", next(r.rule_formula for r in rows[slug].values() if r.position == code))
        for fact in _csv(slug, "population.csv"):
            if fact["period"] == PERIOD:
                values = {v: int(fact[v]) for v in formula.variables_used}
                assert rows[slug][(fact["org_code"], code)].quota == formula.compute(values), fact["org_code"]


@pytest.mark.parametrize("slug", ["shishi", "guanling"])
def test_staffed_vacant_and_over_follow_the_roster(rows, slug):
    expected = _expected_staffed(slug)
    base = [r for r in rows[slug].values() if r.inputs is None or "children" not in r.inputs]
    assert base
    for row in base:
        assert row.staffed == expected.get((row.org_code, row.position), 0), (row.org_code, row.position)
        assert row.vacant == max(row.quota - row.staffed, 0)
        assert row.over == max(row.staffed - row.quota, 0)
    assert sum(r.staffed for r in base) == sum(expected.values())


@pytest.mark.parametrize("slug", ["shishi", "guanling"])
def test_rollups_are_the_sums_of_their_children(rows, slug):
    all_rows = rows[slug]
    rollups = [r for r in all_rows.values() if r.inputs and "children" in r.inputs]
    assert {r.level for r in rollups} == {"town", "county"}
    for parent in rollups:
        children = [r for r in all_rows.values() if r.parent_code == parent.org_code and r.position == parent.position]
        assert len(children) == parent.inputs["children"]
        for field in ("quota", "staffed", "vacant", "over"):
            assert getattr(parent, field) == sum(getattr(c, field) for c in children), (parent.org_code, field)
        assert parent.rule_version == children[0].rule_version


def test_shishi_county_total_is_the_sum_over_villages(rows):
    facts = [f for f in _csv("shishi", "population.csv") if f["period"] == PERIOD]
    expected = sum(max(1, math.ceil(int(f["resident_pop"]) / 1500)) for f in facts)
    county = next(r for r in rows["shishi"].values() if r.level == "county")
    assert county.quota == expected


def test_cc1_one_floating_population_assistant_per_500(app, copy_tenant):
    """CC-1 (city communities): ``ceil(floating / 500)``; 1,200 floating → 3."""
    folder = copy_tenant("shishi", "cc_city")
    add_position(folder, "LDXG", "流动人口协管员", "village", "CEILING(流动人口 / 500)")
    villages = [r["code"] for r in _csv("shishi", "orgunits.csv") if r["level"] == "village"][:5]
    cases = dict(zip(villages, (1200, 500, 501, 0, 1000), strict=True))
    for code, floating in cases.items():
        edit_population(folder, code, PERIOD, floating_pop=floating)
    with app.app_context():
        tenant_id = load(folder)
        recompute(tenant_id, PERIOD)
        got = quota_rows(tenant_id, PERIOD)
    assert {code: got[(code, "LDXG")].quota for code in cases} == dict(
        zip(villages, (3, 1, 2, 0, 2), strict=True))
    assert got[(villages[0], "LDXG")].inputs == {"floating_pop": 1200, "fact_period": PERIOD}
    assert got[(villages[0], "LDXG")].staffed == 0 and got[(villages[0], "LDXG")].vacant == 3


def test_gl_town_service_station_one_licensed_and_one_assistant_doctor_per_town(rows):
    """DOMAIN §4 (seed 001): each town's FP service station has 1 执业医师 (JSZYS) + 1 执业助理医师 (JSZLYS)."""
    towns = [r["code"] for r in _csv("guanling", "orgunits.csv") if r["level"] == "town"]
    gl = rows["guanling"]
    assert towns
    assert [gl[(code, "JSZYS")].quota for code in towns] == [1] * len(towns)
    assert [gl[(code, "JSZLYS")].quota for code in towns] == [1] * len(towns)
    assert not any((r["org_code"], "JSZYS") in gl for r in _csv("guanling", "population.csv"))  # not per village
    county = next(r["code"] for r in _csv("guanling", "orgunits.csv") if r["level"] == "county")
    assert (gl[(county, "JSZYS")].quota, gl[(county, "JSZLYS")].quota) == (len(towns), len(towns))
    assert gl[(towns[0], "JSZYS")].vacant == 1 - gl[(towns[0], "JSZYS")].staffed  # nobody on the demo roster


def test_cc2_service_station_has_two_leader_posts_head_and_deputy(app):
    """CC-2 (seed 003): the city's one 社区人口和计划生育服务管理站 has 2 leader posts: 站长 and 副站长, 1 each."""
    from support import TENANTS

    with app.app_context():
        tenant_id = load(TENANTS / "example_city")
        recompute(tenant_id, PERIOD)
        got = quota_rows(tenant_id, PERIOD)
    county = next(r["code"] for r in _csv("example_city", "orgunits.csv") if r["level"] == "county")
    leaders = {pos: row.quota for (org, pos), row in got.items() if pos in ("FWZZ", "FWFZZ")}
    assert leaders == {"FWZZ": 1, "FWFZZ": 1} and sum(leaders.values()) == 2
    assert {org for (org, pos) in got if pos in ("FWZZ", "FWFZZ")} == {county}  # one station, not one per community
    assert got[(county, "FWZZ")].level == "county" and got[(county, "FWZZ")].vacant == 1
    # CC-1 still holds next to it: one information officer per residents' committee
    villages = [r["code"] for r in _csv("example_city", "orgunits.csv") if r["level"] == "village"]
    assert [got[(v, "RKZR")].quota for v in villages] == [1] * len(villages)

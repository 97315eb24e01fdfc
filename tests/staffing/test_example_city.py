"""The example third county (tenants/example_city): the community scheme CC-1 as pure configuration."""

from __future__ import annotations

from staffing_support import load, quota_rows, recompute

from support import TENANTS

FOLDER = TENANTS / "example_city"
EAST_GATE, SOUTH_GATE, NORTH_PARK = "999901001001", "999901001002", "999901001003"
WEST_LAKE, XINHUA, TAOYUAN = "999901002001", "999901002002", "999901002003"


def test_cc1_example_city_loads_and_computes_every_community_post(app):
    """CC-1: ceil(floating / 500) assistants, 1 director per committee, 1 group leader per residents' group."""
    with app.app_context():
        tenant_id = load(FOLDER)
        report = recompute(tenant_id, "2025")
        rows = quota_rows(tenant_id, "2025")
    assert report.null_count == 0
    floating = {EAST_GATE: 3, SOUTH_GATE: 1, NORTH_PARK: 2, WEST_LAKE: 0, XINHUA: 6, TAOYUAN: 2}
    assert {code: rows[(code, "LDXG")].quota for code in floating} == floating  # 1200 → 3, 500 → 1, 501 → 2
    assert rows[(EAST_GATE, "LDXG")].inputs == {"floating_pop": 1200, "fact_period": "2025"}
    assert {rows[(code, "RKZR")].quota for code in floating} == {1}
    groups = {EAST_GATE: 3, SOUTH_GATE: 2, NORTH_PARK: 4, WEST_LAKE: 2, XINHUA: 3, TAOYUAN: 1}
    assert {code: rows[(code, "ZGZZ")].quota for code in groups} == groups
    assert rows[("999901001", "LDXG")].quota == 6 and rows[("999901", "LDXG")].quota == 14
    assert rows[(EAST_GATE, "LDXG")].staffed == 1 and rows[(EAST_GATE, "LDXG")].vacant == 2
    assert rows[("999901", "ZGZZ")].quota == 15 and rows[("999901", "ZGZZ")].vacant == 14


def test_cc1_example_city_loads_twice_without_changes(app):
    from app.tenantio.loader import load_tenant_folder

    with app.app_context():
        load(FOLDER)
        again = load_tenant_folder(FOLDER)
    assert "无变化" in again.summary()

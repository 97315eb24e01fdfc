"""The landing page tells a user their tenant, org scope and what they can do."""

from support import login


def test_town_clerk_sees_tenant_scope_and_actions(demo, client):
    html = login(client, "ss_town").get("/").get_data(as_text=True)
    assert "石狮市" in html and "福建省/泉州市" in html
    assert "镇录入员" in html
    assert "350581001" in html  # the clerk's town
    assert "查看与录入" in html


def test_province_viewer_reads_only_and_can_switch_within_region(demo, client):
    html = login(client, "fj_viewer").get("/").get_data(as_text=True)
    assert "省级查看" in html and "只读" in html
    assert "石狮市" in html
    assert "关岭" not in html  # Guizhou is not in the Fujian viewer's region
    assert "查看与录入" not in html

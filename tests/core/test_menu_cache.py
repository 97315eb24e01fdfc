"""The menu bar is drawn once per role set and language, yet every user still sees their own menu.

The cache (app/core/menu_cache.py) must never show one role's items to another, never keep one
language's labels after a switch, and never freeze the per-user 待办事项 count.
"""

from __future__ import annotations

import re

from support import login


def _menu(client, path="/"):
    html = client.get(path).get_data(as_text=True)
    start = html.index('<ul class="nav navbar-nav">')
    return html[start:html.index("navbar-right", start)]


def _links(menu: str) -> set[str]:
    return set(re.findall(r'href="(/[^"]*)"', menu))


def test_each_role_sees_its_own_menu_items_with_the_cache_warm(demo, app):
    admin, town, village = (login(app.test_client(), u) for u in ("ss_admin", "ss_town", "ss_village"))
    for _ in range(2):  # the second round is served from the cache
        admin_links, town_links, village_links = (_links(_menu(c)) for c in (admin, town, village))
        assert "/form-designer/" in admin_links and "/form-designer/" not in town_links
        assert "/form-designer/" not in village_links
        assert "/forms/" in town_links and "/forms/" in village_links
        assert admin_links != town_links


def test_the_same_role_in_another_county_gets_the_same_items_but_its_own_count(demo, app):
    ss, gl = (login(app.test_client(), u) for u in ("ss_admin", "gl_admin"))
    ss_menu, gl_menu = _menu(ss), _menu(gl)
    strip = re.compile(r"待办事项 \(\d+\)")
    assert strip.sub("待办事项", ss_menu) == strip.sub("待办事项", gl_menu)
    assert "\u2063" not in ss_menu and "\u2063" not in gl_menu  # the count's marker never reaches the page


def test_switching_language_switches_the_cached_menu(demo, app):
    client = login(app.test_client(), "ss_town")
    assert "表单列表" in _menu(client)
    client.get("/lang/en")
    english = _menu(client)
    assert "表单列表" not in english and "Form" in english
    client.get("/lang/zh")
    assert "表单列表" in _menu(client)


def test_a_logged_out_visitor_gets_no_county_menu(demo, app):
    html = app.test_client().get("/login/").get_data(as_text=True)
    assert "/form-designer/" not in html and "/forms/" not in html

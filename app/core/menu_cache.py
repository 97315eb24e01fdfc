"""The menu bar, drawn once per role set and language instead of on every page.

Why: Flask-AppBuilder draws the menu by asking the security manager about every item and
translating every label on each request, which was about a quarter of a list page's time.
CountyDesk's roles are Flask-AppBuilder built-in roles (their permissions come from configuration
and do not change while the process runs), so which items show, their labels and their links depend
only on the role names, the language and the URL prefix. The one part that changes per user and
request, such as the number of waiting cases in the 待办事项 label, is drawn as a marker and filled in
on every page from the ``countydesk_register_menu_badges`` hook, so core knows no package that
counts. A user holding a role kept in the database (not built in) is drawn the uncached way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from flask import current_app, g, request
from flask_babel import get_locale
from jinja2 import Template, pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape


def badge_mark(name: str) -> str:
    """Stands in the cached menu where badge ``name``'s count goes (invisible separators: no escaping
    or translation changes it)."""
    return f"\u2063cd-{name}\u2063"


_G_DRAWING = "countydesk_menu_drawing"
_MAX_ENTRIES = 512
_lock = threading.Lock()


def drawing_for_cache() -> bool:
    """True while the menu is being drawn for the cache: labels then leave their per-user part out."""
    return bool(g.get(_G_DRAWING, False))


def _fab_menu_template() -> Template:
    """Flask-AppBuilder's own ``navbar_menu.html``, compiled once (the app overrides that name)."""
    app = current_app
    cached = app.extensions.get("countydesk_menu_template")
    if cached is None:
        blueprint = app.blueprints["appbuilder"]
        loader = blueprint.jinja_loader
        assert loader is not None
        source, _filename, _uptodate = loader.get_source(app.jinja_env, "appbuilder/navbar_menu.html")
        cached = app.jinja_env.from_string(source)
        app.extensions["countydesk_menu_template"] = cached
    return cached


def _cache_key(user: Any) -> tuple[Any, ...] | None:
    if user is None or not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return None
    sm = current_app.appbuilder.sm  # type: ignore[attr-defined]
    names = [role.name for role in sm.get_user_roles(user)]
    if not names or any(name not in sm.builtin_roles for name in names):
        return None
    return (tuple(sorted(names)), str(get_locale()), request.script_root)


def _draw(context: Context) -> str:
    variables = dict(context.get_all())
    variables.setdefault("menu", current_app.appbuilder.menu)  # type: ignore[attr-defined]
    return _fab_menu_template().render(variables)


def _badges() -> dict[str, Callable[[], int | None]]:
    """The badges the plugins register, collected once per app."""
    app = current_app
    cached = app.extensions.get("countydesk_menu_badges")
    if cached is None:
        cached = {}
        plugins = app.extensions.get("countydesk_plugins")
        for found in plugins.hook.countydesk_register_menu_badges() if plugins is not None else ():
            cached.update(found or {})
        app.extensions["countydesk_menu_badges"] = cached
    return cached


def fill_badges(html: str) -> str:
    """Each badge's mark in ``html`` becomes its count, `` (n)``, or nothing when there is none."""
    for name, count_of in _badges().items():
        mark = badge_mark(name)
        if mark in html:
            count = count_of()
            html = html.replace(mark, str(escape(f" ({count})" if count else "")))
    return html


@pass_context
def navbar_menu(context: Context) -> Markup:
    """The menu items of the navigation bar for the current user (the ``<li>`` list)."""
    key = _cache_key(g.get("user"))
    if key is None:
        return Markup(_draw(context))
    cache: dict[tuple[Any, ...], str] = current_app.extensions.setdefault("countydesk_menu_cache", {})
    html = cache.get(key)
    if html is None:
        setattr(g, _G_DRAWING, True)
        try:
            html = _draw(context)
        finally:
            setattr(g, _G_DRAWING, False)
        with _lock:
            if len(cache) >= _MAX_ENTRIES:
                cache.clear()
            cache[key] = html
    return Markup(fill_badges(html))


def install(app: Any) -> None:
    app.jinja_env.globals["countydesk_navbar_menu"] = navbar_menu

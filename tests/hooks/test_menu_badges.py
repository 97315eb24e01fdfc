"""countydesk_register_menu_badges: a package shows a live count beside a menu label without core
knowing the package (the 待办事项 count of the workflow engine is the built-in one)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.core.menu_cache import badge_mark, fill_badges
from app.hooks import hookspecs
from app.hooks.manager import get_plugin_manager


class NoticePack:
    """A pack counting something per user (here: a fixed number)."""

    def __init__(self, count: int | None) -> None:
        self.count = count
        self.calls = 0

    def _count(self) -> int | None:
        self.calls += 1
        return self.count

    @hookspecs.hookimpl
    def countydesk_register_menu_badges(self):
        return {"notices": self._count}


@pytest.fixture
def with_pack(app) -> Iterator:
    """Registers one pack into the running app's plugins for one test, then takes it out again."""
    plugins = app.extensions["countydesk_plugins"]

    def register(pack: NoticePack) -> NoticePack:
        plugins.register(pack, name="notice-pack")
        app.extensions.pop("countydesk_menu_badges", None)  # badges are collected once per app
        return pack

    yield register
    if plugins.has_plugin("notice-pack"):
        plugins.unregister(name="notice-pack")
    app.extensions.pop("countydesk_menu_badges", None)


@pytest.mark.parametrize(("count", "shown"), [(3, "<li>公告 (3)</li>"), (0, "<li>公告</li>"), (None, "<li>公告</li>")])
def test_a_pack_badge_shows_its_count_where_its_label_is_marked(app, with_pack, count, shown):
    with_pack(NoticePack(count))
    with app.test_request_context("/"):
        assert fill_badges(f"<li>公告{badge_mark('notices')}</li>") == shown


def test_a_badge_no_label_marks_is_never_counted(app, with_pack):
    pack = with_pack(NoticePack(5))
    with app.test_request_context("/"):
        assert fill_badges("<li>表单列表</li>") == "<li>表单列表</li>"
    assert pack.calls == 0


def test_the_workflow_inbox_count_is_a_built_in_badge():
    badges: dict = {}
    for found in get_plugin_manager(allow="none-installed").hook.countydesk_register_menu_badges():
        badges.update(found)
    assert "inbox" in badges and callable(badges["inbox"])

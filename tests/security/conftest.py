"""Fixtures of the security tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture
def csrf_on(app) -> Iterator[None]:
    """CSRF checked as in production (the suite's app turns it off for every other test)."""
    before = app.config["WTF_CSRF_ENABLED"]
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        yield
    finally:
        app.config["WTF_CSRF_ENABLED"] = before

"""Fixtures of the adversarial suite."""

from __future__ import annotations

import pytest

from app.cli import _register_commands
from app.cli import cli as countydesk


@pytest.fixture
def run(app):
    """``run("tenant", "load", DIR)``: a ``countydesk`` command inside the suite's app, as a user types it."""
    _register_commands()
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(countydesk, list(args))

"""Fixtures of the browser smoke test (the harness itself is ``e2e_support``, importable by later journeys)."""

from e2e_support import browser, demo_server, pytest_collection_modifyitems, visit

__all__ = ["browser", "demo_server", "pytest_collection_modifyitems", "visit"]

"""Every hook in app/hooks/hookspecs.py says what it is for and is exercised by a test that names it.

A hook is the platform's promise to rule packs: an undocumented one cannot be implemented, an
untested one breaks unnoticed.
"""

from __future__ import annotations

import inspect
from pathlib import Path

from app.hooks import hookspecs

TESTS = Path(__file__).resolve().parent.parent
HOOKS = [name for name, obj in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("countydesk_")]


def _other_tests_text() -> str:
    here = Path(__file__).resolve()
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(TESTS.rglob("test_*.py")) if p.resolve() != here)


def test_hooks_are_declared_prefixed():
    assert HOOKS, "no hooks declared"
    strays = [name for name, obj in inspect.getmembers(hookspecs, inspect.isfunction)
              if hasattr(obj, f"{hookspecs.PROJECT}_spec") and not name.startswith("countydesk_")]
    assert strays == [], f"hooks must be prefixed countydesk_: {strays}"


def test_every_hook_has_a_docstring():
    missing = [name for name in HOOKS if not (getattr(hookspecs, name).__doc__ or "").strip()]
    assert missing == [], f"hooks without a docstring: {missing}"


def test_every_hook_is_named_by_a_test():
    text = _other_tests_text()
    untested = [name for name in HOOKS if name not in text]
    assert untested == [], f"hooks no test names: {untested}"

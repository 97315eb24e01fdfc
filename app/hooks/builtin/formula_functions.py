"""Core formula functions are registered through the same hook plugins use."""

from __future__ import annotations

from typing import Any

from app.hooks.hookspecs import hookimpl


@hookimpl
def countydesk_register_formula_functions() -> list[Any]:
    # The builtins live in the formula package's default registry; nothing extra here yet.
    return []

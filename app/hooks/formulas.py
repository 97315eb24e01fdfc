"""The formula function registry of an app: the builtins plus what plugins register."""

from __future__ import annotations

from typing import Any

from flask import current_app, has_app_context

from app.formulas import FunctionRegistry, default_registry


def build_registry(plugin_manager: Any) -> FunctionRegistry:
    registry = default_registry()
    for specs in plugin_manager.hook.countydesk_register_formula_functions():
        for spec in specs or ():
            registry.register(spec)
    return registry


def formula_registry() -> FunctionRegistry:
    """The current app's registry (built once per app); the builtins alone outside an app."""
    if not has_app_context():
        return default_registry()
    cached = current_app.extensions.get("countydesk_formula_registry")
    if cached is None:
        cached = build_registry(current_app.extensions["countydesk_plugins"])
        current_app.extensions["countydesk_formula_registry"] = cached
    return cached

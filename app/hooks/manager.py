"""Builds the plugin manager: built-in hooks, then packs found by entry point (optionally allow-listed)."""

from __future__ import annotations

import importlib.metadata
import os

import pluggy

from app.hooks import hookspecs

ENTRY_POINT_GROUP = "countydesk.plugins"
# Built-in plugins, by name (imported when the manager is built, never at import time of this module, so
# the packages that implement hooks may sit above the hooks package: a package adds to the engines
# through a hook, and the engines never import it).
BUILTIN_MODULES = (
    "app.hooks.builtin.formula_functions",
    "app.workflows.inbox_count",
    "app.staffing.workflow_tasks",
)


def get_plugin_manager(allow: str | None = None) -> pluggy.PluginManager:
    """``allow`` (or env ``COUNTYDESK_PLUGINS``) is a comma list of pack names; empty = all installed."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in BUILTIN_MODULES:
        pm.register(importlib.import_module(name), name=name)
    allowed_raw = allow if allow is not None else os.environ.get("COUNTYDESK_PLUGINS", "")
    allowed = {a.strip() for a in (allowed_raw or "").split(",") if a.strip()}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if allowed and ep.name not in allowed:
            continue
        pm.register(ep.load(), name=ep.name)
    pm.check_pending()
    return pm

"""Every hook of the platform is declared here, and only here.

Hooks return declarative objects (functions for formulas, settings schemas) rather than
reaching into the app, so a rule pack stays data-like and testable on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

PROJECT = "countydesk"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def countydesk_register_formula_functions() -> list[Any]:
    """Return formula functions (``app.formulas.FunctionSpec``) to add to every tenant's formula language.

    Each spec carries its type signature, a Python implementation and a SQL implementation,
    so a quota using the function can be computed per record and set-based alike.
    """
    raise NotImplementedError


@hookspec
def countydesk_register_form_templates() -> list[dict[str, Any]]:
    """Return reusable form definitions (plain dicts in the tenant.yaml form format, each with a ``template`` id).

    A tenant uses one by naming it in its ``forms:`` list (``- template: <id>``), optionally overriding
    ``code``/``name``; the definition then becomes the tenant's own, versioned like any other form.
    """
    raise NotImplementedError


@hookspec
def countydesk_register_task_handlers() -> dict[str, Any]:
    """Return workflow side-effect handlers by task name (``{"create_appointment": fn}``).

    A transition lists task names; after its transaction commits each runs as an RQ job with
    ``fn(ctx: app.workflows.tasks.TaskContext)``. Handlers must be idempotent (``ctx.key`` is stable
    per step and task): a failed one is retried.
    """
    raise NotImplementedError


@hookspec
def countydesk_register_menu_badges() -> dict[str, Callable[[], int | None]]:
    """Return live counts shown beside menu labels, by badge name (``{"inbox": fn}``).

    The menu is drawn once per role set and language (``app.core.menu_cache``), so a label that carries a
    per-user number puts ``app.core.menu_cache.badge_mark(name)`` where the number goes. On every page the
    mark becomes `` (n)`` from ``fn()`` (called inside the request, no arguments), or nothing when ``fn``
    returns 0 or None. Keep ``fn`` to one small query: it runs on every page.
    """
    raise NotImplementedError

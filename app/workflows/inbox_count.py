"""How much waits for the current user: the number shown in the menu as 待办事项 (3).

It counts what the inbox lists: the cases the user may act on and the open 督办 notices addressed
to the user's level. Why a query of its own rather than ``services.inbox``: the menu is drawn on
every page, so the count must cost one small statement (cases grouped per definition version and
state in the user's scope, with the notices' count joined on by ``UNION ALL``), not the inbox's
list of cases. Which states wait for the user comes from the definitions (cached per version).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import g, has_request_context
from flask_babel import LazyString, gettext
from sqlalchemy import func, literal, select, union_all
from sqlalchemy.exc import SQLAlchemyError

from app.core.menu_cache import badge_mark, drawing_for_cache
from app.extensions import db
from app.hooks.hookspecs import hookimpl
from app.orgs.models import OrgUnit
from app.workflows.models import WorkflowInstance

log = logging.getLogger(__name__)
_G_KEY = "countydesk_inbox_count"
BADGE = "inbox"


def waiting_count(actor: Any) -> int:
    """Cases in a state the actor may act from, in its org scope, plus the open notices addressed to
    the actor (the inbox's two lists), in one query.

    Tenant scoping comes from the data layer (both selects are ORM selects of scoped models).
    """
    from app.workflows.notices import open_count_select
    from app.workflows.services import load_definition

    if not actor.roles:
        return 0
    inst = WorkflowInstance
    stmt: Any = (select(inst.definition_code, inst.definition_version, inst.state, func.count())
                 .group_by(inst.definition_code, inst.definition_version, inst.state))
    if actor.capture_path is not None:
        stmt = stmt.where(inst.org_unit_id.in_(select(OrgUnit.id).where(OrgUnit.path.startswith(actor.capture_path))))
    notices = open_count_select(actor.roles, actor.capture_path)
    if notices is not None:  # one row more, marked by a NULL definition code: the open notices
        stmt = union_all(stmt, notices.with_only_columns(literal(None), literal(0), literal(""), func.count()))
    total = 0
    mine: dict[tuple[str, int], set[str]] = {}
    for code, version, state, n in db.session.execute(stmt).all():
        if code is None:
            total += int(n)
            continue
        key = (code, version)
        if key not in mine:
            definition = load_definition(code, version)
            mine[key] = {s for t in definition.transitions if actor.may(t) for s in t.from_states}
        if state in mine[key]:
            total += int(n)
    return total


def current_user_count() -> int | None:
    """The current request's user's count, computed once per request; None when there is no one to count for."""
    from app.core.tenancy import current_scope
    from app.workflows.services import actor_for_user

    if not has_request_context():
        return None
    if _G_KEY in g:
        return g.get(_G_KEY)
    count: int | None = None
    user = g.get("user")
    scope = current_scope()
    if user is not None and getattr(user, "is_authenticated", False) and scope is not None \
            and scope.tenant_id is not None and not scope.read_only:
        try:
            count = waiting_count(actor_for_user(user))
        except SQLAlchemyError:
            # The menu is also drawn on error pages, where the transaction may already be broken:
            # a missing badge is better than an error page that cannot render.
            log.warning("inbox count failed", exc_info=True)
            count = None
    setattr(g, _G_KEY, count)
    return count


def _menu_label() -> str:
    base = gettext("待办事项")
    if drawing_for_cache():
        return base + badge_mark(BADGE)
    count = current_user_count()
    return f"{base} ({count})" if count else base


inbox_menu_label = LazyString(_menu_label)
"""The 待办事项 menu label: evaluated when the menu is drawn, with the number of cases waiting."""


@hookimpl
def countydesk_register_menu_badges() -> dict[str, Any]:
    """The 待办事项 count, filled into the cached menu on every page (a built-in plugin: core calls it)."""
    return {BADGE: current_user_count}

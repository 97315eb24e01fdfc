"""Who acts in a workflow, and the two refusals every caller must tell apart.

An :class:`Actor` is computed once per request or command from the user's roles and the org scope
already set for it; the engine never looks at the request. ``SYSTEM`` is what timers and daily
checks act as. ``WorkflowError`` is a refusal the user can fix (400), ``AlreadyHandled`` means
someone else acted first (409, "已被他人处理").
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from app.core import clock
from app.core.errors import CountyDeskError
from app.core.tenancy import current_scope
from app.workflows.definition import ROLE_LEVELS, Transition


class WorkflowError(CountyDeskError):
    """A refusal the user can fix (400, the base status)."""


class AlreadyHandled(CountyDeskError):
    """Someone else acted first; reloading shows what they did."""

    status = 409


@dataclass(frozen=True)
class Actor:
    """Who acts: roles (codes), the org path they act under (None: the whole county) and, for a user
    who speaks for one department in N-of-M approvals (会签单位), that department (None: may record any)."""

    user_id: int | None
    roles: frozenset[str]
    capture_path: str | None = None
    party: str | None = None

    def may(self, transition: Transition) -> bool:
        return transition.who.allows(self.roles)

    def covers(self, path: str | None) -> bool:
        return self.capture_path is None or (path or "").startswith(self.capture_path)


SYSTEM = Actor(None, frozenset(ROLE_LEVELS), None)
"""Timers act as the system: any role, whole county."""


def actor_for_user(user: Any) -> Actor:
    """The actor of the current request/command: the user's roles and the scope already computed for it."""
    from app.security.context import is_platform_admin, user_roles

    scope = current_scope()
    if scope is None or scope.read_only:
        return Actor(getattr(user, "id", None), frozenset())
    roles = frozenset(r.code for r in user_roles(user) if not r.read_only)
    if is_platform_admin(user):
        roles = roles | {"county_admin"}
    return Actor(user.id, roles, scope.capture_path, getattr(user, "party", None) or None)


def _now() -> dt.datetime:
    return clock.server_now().replace(microsecond=0)

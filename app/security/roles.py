"""The four roles of the platform and their FAB permissions, derived from the view declarations."""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.core.registry import READ_PERMISSIONS, VIEW_SPECS, WRITE_PERMISSIONS


@dataclass(frozen=True)
class RoleSpec:
    code: str
    name: str
    """FAB role name, shown to users."""
    scope_level: str | None
    """Org level of the capture scope a user of this role must have (None: whole tenant)."""
    regional: bool = False
    read_only: bool = False


ROLES: dict[str, RoleSpec] = {
    r.code: r
    for r in (
        RoleSpec("county_admin", "县管理员", None),
        RoleSpec("town_clerk", "镇录入员", "town"),
        RoleSpec("village_worker", "村填报员", "village"),
        RoleSpec("province_viewer", "省级查看", None, regional=True, read_only=True),
    )
}
ROLE_BY_NAME = {r.name: r for r in ROLES.values()}
SELF_SERVICE = [
    ["UserInfoEditView", "can_this_form_get|can_this_form_post"],
    ["ResetMyPasswordView", "can_this_form_get|can_this_form_post"],
    ["UserDBModelView", "can_userinfo|resetmypassword|userinfoedit"],
    ["TenantSwitchView", "can_.*"],
    ["OpenApi", "can_get"],
    ["SwaggerView", "can_show"],
]


def role_for(code_or_name: str) -> RoleSpec | None:
    return ROLES.get(code_or_name) or ROLE_BY_NAME.get(code_or_name)


def _alternation(names: list[str]) -> str:
    return "^(" + "|".join(re.escape(n) for n in names) + ")$"


def build_fab_roles() -> dict[str, list[list[str]]]:
    """FAB_ROLES: for each role, (view regex, permission regex) pairs."""
    result: dict[str, list[list[str]]] = {}
    for role in ROLES.values():
        pairs: list[list[str]] = [list(p) for p in SELF_SERVICE]
        readable = [s for s in VIEW_SPECS if role.code in s.readers]
        writable = [s for s in VIEW_SPECS if role.code in s.writers and not role.read_only]
        if readable:
            pairs.append([_alternation([s.view.__name__ for s in readable]), _alternation(list(READ_PERMISSIONS))])
            menus = [s.name for s in readable if s.menu] + sorted({s.category for s in readable if s.category})
            pairs.append([_alternation(menus), "^menu_access$"])
        if writable:
            pairs.append([_alternation([s.view.__name__ for s in writable]), _alternation(list(WRITE_PERMISSIONS))])
        result[role.name] = pairs
    return result

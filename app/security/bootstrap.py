"""Creates the platform's roles and FAB permissions once the tables exist (after migrations)."""

from __future__ import annotations

from app.extensions import get_appbuilder
from app.security.roles import ROLES


def ensure_roles() -> None:
    sm = get_appbuilder().sm
    for name in (sm.auth_role_admin, sm.auth_role_public, *(r.name for r in ROLES.values())):
        if sm.find_role(name) is None:
            sm.add_role(name)
    get_appbuilder().add_permissions(update_perms=True)

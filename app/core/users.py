"""Who saved a row, by name, for the screens of core (histories, version lists).

Why through the security manager's user model rather than an import of ``app.security``: core sits
below security in the layers, and Flask-AppBuilder already knows the app's user class.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import select

from app.extensions import db


def usernames(ids: set[int]) -> dict[int, str]:
    """The user name of each id (ids of deleted users are left out)."""
    if not ids:
        return {}
    user: Any = current_app.appbuilder.sm.user_model  # type: ignore[attr-defined]
    rows = db.session.execute(select(user.id, user.username).where(user.id.in_(ids)))
    return {r.id: r.username for r in rows}

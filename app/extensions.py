"""Unbound extension singletons.

They are created here and bound in ``create_app`` so that importing any module never
touches a database, a Redis server or an application.
"""

from typing import Any

from flask import current_app
from flask_appbuilder import Model
from flask_appbuilder.models.sqla.base import SQLA
from flask_migrate import Migrate

# FAB's declarative ``Model`` must back the metadata, otherwise Alembic autogenerate
# sees an empty schema and proposes dropping every table.
db = SQLA(model_class=Model)
migrate = Migrate()


def get_appbuilder() -> Any:
    """The current app's AppBuilder.

    FAB keeps per-app state (security manager, limiter, menu) on the AppBuilder, so each
    ``create_app`` makes its own instead of re-initialising a module-level singleton.
    """
    return current_app.appbuilder  # type: ignore[attr-defined]

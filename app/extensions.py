"""Unbound extension singletons.

They are created here and bound in ``create_app`` so that importing any module never
touches a database, a Redis server or an application.
"""

from flask_appbuilder import AppBuilder, Model
from flask_appbuilder.models.sqla.base import SQLA
from flask_migrate import Migrate

# FAB's declarative ``Model`` must back the metadata, otherwise Alembic autogenerate
# sees an empty schema and proposes dropping every table.
db = SQLA(model_class=Model)
appbuilder = AppBuilder()
migrate = Migrate()

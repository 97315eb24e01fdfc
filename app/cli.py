"""The ``countydesk`` command: Flask's CLI (``db upgrade`` from Flask-Migrate) plus platform commands.

Why the app is built lazily and checked first: FAB reads its tables while the app is built, so a
command run against a missing or empty database used to end in pages of traceback. Listing and
helping with commands never builds the app; a command that needs the database first checks that
it is there and set up, and says in one line what to run when it is not.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, ScriptInfo

from app import create_app
from app.config import StartupError, check_secret_key, load_config

NOT_SET_UP = "数据库尚未初始化：请先运行 countydesk setup"
SCHEMA_TABLES = ("alembic_version", "ab_user", "tenant")


def require_database(url: str) -> None:
    """Raise ``StartupError`` unless ``url`` reaches a database that ``countydesk setup`` has built.

    A missing SQLite file is reported, not created (connecting would leave an empty file behind).
    """
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        if not Path(str(parsed.database)).is_file():
            raise StartupError(NOT_SET_UP)
    connect_args = {"connect_timeout": 10} if parsed.get_backend_name() == "postgresql" else {}
    engine = create_engine(parsed, connect_args=connect_args)
    try:
        with engine.connect() as conn:
            inspector = inspect(conn)
            ready = all(inspector.has_table(name) for name in SCHEMA_TABLES)
    except SQLAlchemyError as exc:
        where = parsed.render_as_string(hide_password=True)
        raise StartupError(f"无法连接数据库 {where}：请检查 DATABASE_URL 和数据库服务是否已启动") from exc
    finally:
        engine.dispose()
    if not ready:
        raise StartupError(NOT_SET_UP)


def build_app() -> Flask:
    """The full app for an operator's command: secret and database checked before FAB touches anything."""
    settings = load_config()
    check_secret_key(settings)
    require_database(str(settings["SQLALCHEMY_DATABASE_URI"]))
    return create_app()


def _make_app() -> Flask:
    if os.environ.get("FAB_UPDATE_PERMS") == "0":  # ``db`` commands: FAB leaves its tables alone, none needed
        return create_app()
    return build_app()


def create_light_app() -> Flask:
    """Config and plugins only, no database: enough for formulas, which plugins may extend."""
    from app.hooks.manager import get_plugin_manager

    app = Flask("app")
    app.config.update(load_config())
    app.extensions["countydesk_plugins"] = get_plugin_manager(app.config.get("COUNTYDESK_PLUGINS"))
    return app


def with_light_appcontext(needs_database: Callable[[dict[str, Any]], bool] = lambda _kwargs: False) -> Any:
    """Like Flask's ``with_appcontext``, with the light app unless ``needs_database(options)`` says otherwise.

    An app already given (the tests' ``app.test_cli_runner()``) is always used as it is.
    """

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            if current_app:
                return func(*args, **kwargs)
            info = click.get_current_context().ensure_object(ScriptInfo)
            given = info.create_app is not _make_app
            app = info.load_app() if given or needs_database(kwargs) else create_light_app()
            with app.app_context():
                return func(*args, **kwargs)

        return run

    return decorate


class _CountyDeskGroup(FlaskGroup):
    """Commands are all registered up front, so finding one or printing help never builds the app."""

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        self._load_plugin_commands()
        return click.Group.get_command(self, ctx, name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        return sorted(click.Group.list_commands(self, ctx))


@click.group(cls=_CountyDeskGroup, create_app=_make_app, add_version_option=False, load_dotenv=False)
def cli() -> None:
    """CountyDesk 村级计生工作队伍管理平台"""


def _register_commands() -> None:
    from flask_migrate.cli import db as db_group

    from app.commands import demo, forms, formulas, serve, staffing, tenants, users, worker, workflows

    cli.add_command(db_group)
    cli.add_command(tenants.tenant_group)
    cli.add_command(users.user_group)
    cli.add_command(demo.demo_command)
    cli.add_command(demo.setup_command)
    cli.add_command(serve.serve_command)
    cli.add_command(worker.worker_command)
    cli.add_command(staffing.staffing_group)
    cli.add_command(formulas.formula_group)
    cli.add_command(workflows.workflows_group)
    cli.add_command(forms.forms_group)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "db":
        # FAB must not touch its tables before the migrations created them.
        os.environ["FAB_UPDATE_PERMS"] = "0"
    _register_commands()
    try:
        cli(prog_name="countydesk")
    except StartupError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)


if __name__ == "__main__":  # ``python -m app.cli``: run the imported module's, the one commands refer to
    from app.cli import main as _main

    _main()

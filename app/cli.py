"""The ``countydesk`` command: Flask's CLI (``db upgrade`` from Flask-Migrate) plus platform commands."""

from __future__ import annotations

import os
import sys

import click
from flask.cli import FlaskGroup

from app import create_app


def _make_app() -> object:
    return create_app()


@click.group(cls=FlaskGroup, create_app=_make_app, add_version_option=False, load_dotenv=False)
def cli() -> None:
    """CountyDesk 村级计生工作队伍管理平台"""


def _register_commands() -> None:
    from app.commands import demo, forms, formulas, staffing, tenants, users, worker, workflows

    cli.add_command(tenants.tenant_group)
    cli.add_command(users.user_group)
    cli.add_command(demo.demo_command)
    cli.add_command(demo.setup_command)
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
    cli(prog_name="countydesk")


if __name__ == "__main__":
    main()

"""``countydesk setup`` (migrate + roles) and ``countydesk demo`` (setup, demo tenants, users, server)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
from flask import Flask

from app.config import ROOT

DEMO_PASSWORD = "demo1234"
DEMO_PERIOD = "2025"
REGION_VIEWERS = {"福建省": "fujian_viewer", "贵州省": "guizhou_viewer"}


def setup_database(config: dict[str, Any] | None = None) -> Flask:
    """Run migrations and create roles; returns the app used (permissions not yet synced at start)."""
    from flask_migrate import upgrade

    from app import create_app
    from app.security.bootstrap import ensure_roles

    os.environ["FAB_UPDATE_PERMS"] = "0"
    try:
        app = create_app(config)
    finally:
        os.environ.pop("FAB_UPDATE_PERMS", None)
    with app.app_context():
        Path(app.config["UPLOAD_FOLDER"]).mkdir(parents=True, exist_ok=True)
        upgrade(directory=str(ROOT / "migrations"))
        ensure_roles()
    return app


def demo_folders() -> list[Path]:
    return sorted(p.parent for p in (ROOT / "tenants").glob("*/tenant.yaml"))


def load_demo(app: Flask) -> list[tuple[str, str, str]]:
    """Load every tenant folder under tenants/ and create one user per role and tenant."""
    from sqlalchemy import select

    from app.core.tenancy import tenant_context
    from app.extensions import db
    from app.forms.demo import load_demo_records
    from app.orgs.models import OrgUnit
    from app.security.services import add_user
    from app.staffing.quotas import recompute_quotas
    from app.tenantio.loader import load_tenant_folder
    from app.workflows.appraisal_demo import load_demo_appraisals

    logins: list[tuple[str, str, str]] = []
    with app.app_context():
        for folder in demo_folders():
            report = load_tenant_folder(folder)
            click.echo(report.summary())
            slug = report.slug
            with tenant_context(report.tenant_id):
                quotas = recompute_quotas(DEMO_PERIOD)
                click.echo(f"{slug}：{DEMO_PERIOD} 年编制定额已计算（{quotas.summary()}）")
                click.echo(f"{slug}：2025 年月报演示记录新增 {load_demo_records()} 条（部分逾期、部分未报）")
                click.echo(f"{slug}：{load_demo_appraisals().summary()}")
                town = db.session.scalar(select(OrgUnit).where(OrgUnit.level == "town").order_by(OrgUnit.path))
                village = db.session.scalar(select(OrgUnit).where(
                    OrgUnit.level == "village", OrgUnit.parent_id == town.id).order_by(OrgUnit.path))
                town_code, village_code = town.code, village.code
            add_user(f"{slug}_admin", role="county_admin", password=DEMO_PASSWORD, tenant_slug=slug)
            add_user(f"{slug}_town", role="town_clerk", password=DEMO_PASSWORD, tenant_slug=slug,
                     scope_code=town_code)
            add_user(f"{slug}_village", role="village_worker", password=DEMO_PASSWORD, tenant_slug=slug,
                     scope_code=village_code)
            logins += [(f"{slug}_admin", "县管理员", slug), (f"{slug}_town", "镇录入员", town_code),
                       (f"{slug}_village", "村填报员", village_code)]
        for region_name, username in REGION_VIEWERS.items():
            add_user(username, role="province_viewer", password=DEMO_PASSWORD, region=region_name)
            logins.append((username, "省级查看", region_name))
        _add_platform_admin()
        logins.append(("admin", "平台管理员", "全部"))
    return logins


def _add_platform_admin() -> None:
    from sqlalchemy import select

    from app.extensions import db, get_appbuilder
    from app.security.models import CountyUser

    sm = get_appbuilder().sm
    user = db.session.scalar(select(CountyUser).where(CountyUser.username == "admin"))
    if user is None:
        sm.add_user("admin", "平台管理员", "", "admin@countydesk.local", [sm.find_role(sm.auth_role_admin)],
                    password=DEMO_PASSWORD)
    else:
        sm.reset_password(user.id, DEMO_PASSWORD)


@click.command("setup")
def setup_command() -> None:
    """建库（执行全部迁移）并创建角色与权限。"""
    setup_database()
    click.echo("数据库已就绪")


@click.command("demo")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=8080, type=int)
@click.option("--no-serve", is_flag=True, help="只建库和导入演示数据，不启动服务")
def demo_command(host: str, port: int, no_serve: bool) -> None:
    """演示：建库、导入演示县、创建各角色演示用户并启动服务。"""
    from app import create_app

    app = setup_database()
    logins = load_demo(app)
    click.echo(f"\n演示用户（密码均为 {DEMO_PASSWORD}）：")
    for username, role, where in logins:
        click.echo(f"  {username:<20} {role:<8} {where}")
    if no_serve:
        return
    click.echo(f"\n请在浏览器打开 http://{host}:{port}/ 登录")
    create_app().run(host=host, port=port, debug=False, use_reloader=False)

"""``countydesk setup`` (migrate + roles) and ``countydesk demo`` (setup, demo tenants, users, server).

The demo follows the county clock: quotas for this year, monthly reports of this year up to last
month, appraisal results of last year. It runs with ``COUNTYDESK_DEMO=1``, the one switch that lets
the app use a generated secret (``instance/secret_key``) instead of refusing to start without one.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import click
from flask import Flask

from app.config import ROOT

DEMO_PASSWORD = "demo1234"
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


def load_demo(app: Flask, today: Callable[[], dt.date]) -> tuple[list[tuple[str, str, str]], str]:
    """Load every tenant folder under tenants/ and create one user per role and tenant.

    Returns the logins and the line about the platform admin's password (printed last, to be seen).

    ``today`` is asked inside each county's context (the CLI passes the county clock, tests a fixed date).
    """
    from app.security.services import add_user
    from app.tenantio.loader import load_tenant_folder

    logins: list[tuple[str, str, str]] = []
    with app.app_context():
        for folder in demo_folders():
            report = load_tenant_folder(folder)
            click.echo(report.summary())
            slug = report.slug
            town_code, village_code = _demo_periods(slug, report.tenant_id, today)
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
        admin_note = _add_platform_admin()
    return logins, admin_note


def _demo_periods(slug: str, tenant_id: int, today: Callable[[], dt.date]) -> tuple[str, str]:
    """The county's current-period data; returns its first town and that town's first village."""
    from sqlalchemy import select

    from app.core.tenancy import tenant_context
    from app.extensions import db
    from app.forms.demo import load_demo_records
    from app.orgs.models import OrgUnit
    from app.staffing.quotas import recompute_quotas
    from app.workflows.appraisal_demo import load_demo_appraisals

    with tenant_context(tenant_id):
        day = today()
        year = str(day.year)
        carried = _population_for(year)
        if carried:
            click.echo(f"{slug}：{carried} 个单位没有 {year} 年人口数据，沿用最近一年的数据（演示）")
        quotas = recompute_quotas(year)
        click.echo(f"{slug}：{year} 年编制定额已计算（{quotas.summary()}）")
        click.echo(f"{slug}：截至上月的月报演示记录新增 {load_demo_records(day)} 条（部分逾期、部分未报）")
        click.echo(f"{slug}：{load_demo_appraisals(day).summary()}")
        town = db.session.scalar(select(OrgUnit).where(OrgUnit.level == "town").order_by(OrgUnit.path))
        village = db.session.scalar(select(OrgUnit).where(
            OrgUnit.level == "village", OrgUnit.parent_id == town.id).order_by(OrgUnit.path))
        return town.code, village.code


def _population_for(year: str) -> int:
    """Copy each unit's latest yearly population facts to ``year`` where it has none (demo only)."""
    from sqlalchemy import func, select

    from app.extensions import db
    from app.orgs.models import POPULATION_FIELDS, PopulationFact

    have = set(db.session.scalars(select(PopulationFact.org_unit_id).where(PopulationFact.period == year)))
    latest = (select(PopulationFact.org_unit_id, func.max(PopulationFact.period).label("period"))
              .where(func.length(PopulationFact.period) == 4, PopulationFact.period < year)
              .group_by(PopulationFact.org_unit_id).subquery())
    rows = db.session.scalars(select(PopulationFact).join(latest, (latest.c.org_unit_id == PopulationFact.org_unit_id)
                                                           & (latest.c.period == PopulationFact.period))).all()
    copies = [PopulationFact(org_unit=f.org_unit, period=year, **{c: getattr(f, c) for c in POPULATION_FIELDS})
              for f in rows if f.org_unit_id not in have]
    db.session.add_all(copies)
    db.session.commit()
    return len(copies)


def _add_platform_admin() -> str:
    """A random first password, shown once; a later run never resets it (the operator may have changed it)."""
    from sqlalchemy import select

    from app.extensions import db, get_appbuilder
    from app.security.models import CountyUser

    if db.session.scalar(select(CountyUser.id).where(CountyUser.username == "admin")) is not None:
        return "平台管理员 admin 已存在，沿用原密码"
    sm = get_appbuilder().sm
    password = secrets.token_urlsafe(12)
    sm.add_user("admin", "平台管理员", "", "admin@countydesk.local", [sm.find_role(sm.auth_role_admin)],
                password=password)
    return f"平台管理员 admin 的初始密码：{password}，请登录后修改"


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
    """演示：建库、导入演示县、创建各角色演示用户并启动服务（Ctrl-C 停止）。"""
    from app import create_app
    from app.commands.serve import DEFAULT_WORKERS, run_gunicorn
    from app.core import clock

    os.environ["COUNTYDESK_DEMO"] = "1"  # the generated instance/secret_key; inherited by the worker
    app = setup_database()
    logins, admin_note = load_demo(app, clock.today)
    click.echo(f"\n演示用户（密码均为 {DEMO_PASSWORD}）：")
    for username, role, where in logins:
        click.echo(f"  {username:<20} {role:<8} {where}")
    click.echo(admin_note)
    if no_serve:
        return
    click.echo(f"\n请在浏览器打开 http://{host}:{port}/ 登录（Ctrl-C 停止）")
    owner = os.getpid()
    worker = _start_worker(app)
    try:
        run_gunicorn(create_app(), f"{host}:{port}", int(os.environ.get("WEB_CONCURRENCY") or DEFAULT_WORKERS))
    finally:
        if worker is not None and os.getpid() == owner:  # gunicorn's forked workers unwind through here too
            _stop(worker)


def _start_worker(app: Flask) -> subprocess.Popen[bytes] | None:
    """With Redis, jobs need a worker beside the server (log in instance/worker.log); without, they run inline."""
    if not app.config.get("REDIS_URL"):
        return None
    log: IO[bytes] = (ROOT / "instance" / "worker.log").open("ab")
    click.echo("后台任务进程已启动（日志 instance/worker.log）")
    return subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], stdout=log, stderr=subprocess.STDOUT)


def _stop(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        worker.terminate()
    try:
        worker.wait(timeout=15)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()

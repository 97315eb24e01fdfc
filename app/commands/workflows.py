"""``countydesk workflows …``: fire due timers and the daily checks now, or put the repeating tick on RQ's scheduler."""

from __future__ import annotations

import datetime as dt

import click
from flask.cli import with_appcontext


@click.group("workflows")
def workflows_group() -> None:
    """流程：定时器与调度。"""


@workflows_group.command("tick")
@click.option("--tenant", "slug", default=None, help="只处理这个县（默认：全部）")
@click.option("--now", "now_text", default=None, help="按此时间判断是否到期（如 2025-11-16T00:00）")
@click.option("--daily/--no-daily", default=True, show_default=True,
              help="同时运行每日检查（如聘期到期提醒），每县每天只运行一次")
@with_appcontext
def tick_command(slug: str | None, now_text: str | None, daily: bool) -> None:
    """处理所有已到期的流程时限（超时流转或逾期督办），并运行每日检查；重复执行不会重复处理。"""
    from sqlalchemy import select

    from app.core.models import Tenant
    from app.core.tenancy import tenant_context
    from app.extensions import db
    from app.workflows.timers import FireReport, fire_all_tenants, tick

    try:
        now = dt.datetime.fromisoformat(now_text) if now_text else None
    except ValueError:
        raise click.BadParameter(f"时间「{now_text}」格式不正确，应如 2025-11-16T00:00", param_hint="--now") from None
    if slug:
        tenant_id = db.session.scalar(select(Tenant.id).where(Tenant.slug == slug))
        if tenant_id is None:
            raise click.ClickException(f"没有县「{slug}」")
        with tenant_context(tenant_id):
            report: FireReport = tick(now, daily=daily)
    else:
        report = fire_all_tenants(now, daily=daily)
    click.echo(f"已到期流转 {report.moved} 件，逾期上报 {report.escalated} 件"
               + (f"，{report.lost_race} 件已由其他进程处理" if report.lost_race else ""))
    if report.daily:
        click.echo("每日检查：" + "，".join(f"{label} {n} 件" for label, n in report.daily.items()))
    for error in report.errors:
        click.echo(f"出错：{error}", err=True)


@workflows_group.command("schedule")
@click.option("--every", default=60, show_default=True, help="间隔秒数")
@with_appcontext
def schedule_command(every: int) -> None:
    """在 RQ 调度器上登记定时检查（需要 REDIS_URL 和带调度的 worker）。"""
    from flask import current_app

    from app.workflows.timers import ensure_tick_scheduled

    if not current_app.config.get("REDIS_URL"):
        raise click.ClickException("未设置 REDIS_URL：没有 Redis 时请定期运行 countydesk workflows tick。")
    click.echo(f"已登记定时检查（每 {every} 秒）" if ensure_tick_scheduled(every) else "定时检查已在调度中")

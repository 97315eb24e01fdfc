"""``countydesk staffing recompute|report|set-rule``: quotas from the command line.

The report is CSV with a fixed header (``org_code,org_name,position,quota,staffed,vacant``) so
that towns and the county can open it in a spreadsheet and scripts can diff two periods.
"""

from __future__ import annotations

import csv
import datetime as dt
import sys
from typing import Any

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from app.core.errors import CountyDeskError

REPORT_HEADER = ("org_code", "org_name", "position", "quota", "staffed", "vacant")
SHOWN_NULLS = 20


@click.group("staffing")
def staffing_group() -> None:
    """编制定额：计算与报表"""


def _tenant_id(slug: str) -> int:
    from app.core.models import Tenant
    from app.extensions import db

    tenant_id = db.session.scalar(select(Tenant.id).where(Tenant.slug == slug))
    if tenant_id is None:
        raise click.ClickException(f"县（租户）「{slug}」不存在")
    return int(tenant_id)


@staffing_group.command("recompute")
@click.option("--tenant", "slug", help="县（租户）标识")
@click.option("--all-tenants", is_flag=True, help="计算全部县（一个事务）")
@click.option("--period", required=True, help="期间：2025 或 2025-03")
@click.option("--strict", is_flag=True, help="有无法计算的定额时不保存，返回错误")
@click.option("--job", "as_job", is_flag=True, help="作为后台任务执行并等待完成")
@with_appcontext
def recompute_command(slug: str | None, all_tenants: bool, period: str, strict: bool, as_job: bool) -> None:
    """按期间重新计算编制定额、在岗、空缺和超编人数（含镇、县汇总）。"""
    from app.core.tenancy import tenant_context
    from app.staffing.quotas import recompute_all_tenants, recompute_quotas

    if bool(slug) == all_tenants:
        raise click.UsageError("请指定 --tenant SLUG 或 --all-tenants 之一")
    tenant_id = _tenant_id(slug) if slug else None
    if as_job:
        _run_as_job(period, tenant_id, all_tenants, strict)
        return
    try:
        with tenant_context(tenant_id):
            run = recompute_all_tenants if all_tenants else recompute_quotas
            report = run(period, strict=strict)
    except CountyDeskError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(report.summary())
    for item in report.null_quotas[:SHOWN_NULLS]:
        click.echo(f"  {item.org_code} {item.org_name} {item.position_code}：{item.reason}", err=True)
    if report.null_count > SHOWN_NULLS:
        click.echo(f"  ……另有{report.null_count - SHOWN_NULLS}行", err=True)


def _run_as_job(period: str, tenant_id: int | None, all_tenants: bool, strict: bool) -> None:
    from app.jobs.queue import wait_for
    from app.staffing.tasks import enqueue_recompute

    job = enqueue_recompute(period, tenant_id=tenant_id, all_tenants=all_tenants, strict=strict)
    status = wait_for(job, timeout=3600)
    if status != "finished":
        raise click.ClickException(f"后台任务 {job.id} 状态：{status}")
    click.echo(job.return_value()["summary"])


@staffing_group.command("report")
@click.option("--tenant", "slug", required=True, help="县（租户）标识")
@click.option("--period", required=True, help="期间：2025 或 2025-03")
@click.option("--format", "fmt", type=click.Choice(["csv"]), default="csv", show_default=True)
@click.option("--output", type=click.File("w", encoding="utf-8"), help="输出文件（默认标准输出）")
@with_appcontext
def report_command(slug: str, period: str, fmt: str, output: Any) -> None:
    """输出一个期间的定额报表：每个有定额的单位和岗位一行，按组织路径排序。"""
    from app.core.tenancy import tenant_context
    from app.core.xlsx_export import csv_text
    from app.staffing.quota_models import format_count
    from app.staffing.rules import period_end

    try:
        period_end(period)
    except CountyDeskError as exc:
        raise click.ClickException(exc.message) from exc
    with tenant_context(_tenant_id(slug), read_only=True):
        rows = report_rows(period)
    writer = csv.writer(output or sys.stdout, lineterminator="\n")
    writer.writerow(REPORT_HEADER)
    for row in rows:  # names typed by clerks: "=…" leaves as text, behind a ' (as every CSV export)
        writer.writerow([csv_text(row.code), csv_text(row.name), csv_text(row.position), format_count(row.quota),
                         row.staffed, format_count(row.vacant)])


def report_rows(period: str) -> list[Any]:
    """The current tenant's quota rows of a period, by org path then position code (ORM: tenant-scoped)."""
    from app.extensions import db
    from app.orgs.models import OrgUnit
    from app.staffing.models import Position
    from app.staffing.quota_models import StaffingQuota

    stmt = (select(OrgUnit.code, OrgUnit.name, Position.name.label("position"), StaffingQuota.quota,
                   StaffingQuota.staffed, StaffingQuota.vacant)
            .join(OrgUnit, OrgUnit.id == StaffingQuota.org_unit_id)
            .join(Position, Position.id == StaffingQuota.position_id)
            .where(StaffingQuota.period == period)
            .order_by(OrgUnit.path, Position.code))
    return list(db.session.execute(stmt))


@staffing_group.command("set-rule")
@click.option("--tenant", "slug", required=True, help="县（租户）标识")
@click.option("--position", "code", required=True, help="岗位代码")
@click.option("--kind", type=click.Choice(["quota", "eligibility"]), default="quota", show_default=True)
@click.option("--from", "effective_from", required=True, type=click.DateTime(["%Y-%m-%d"]), help="生效日期")
@click.argument("formula")
@with_appcontext
def set_rule_command(slug: str, code: str, kind: str, effective_from: dt.datetime, formula: str) -> None:
    """为岗位新增一个规则版本，从指定日期起生效（之前的期间不受影响）。"""
    from app.core.tenancy import tenant_context
    from app.extensions import db
    from app.formulas import FormulaError
    from app.staffing.models import Position
    from app.staffing.rules import set_rule

    with tenant_context(_tenant_id(slug)):
        position = db.session.scalar(select(Position).where(Position.code == code))
        if position is None:
            raise click.ClickException(f"岗位「{code}」不存在")
        try:
            rule = set_rule(position, kind, formula, effective_from.date())
        except FormulaError as exc:
            raise click.ClickException(f"{exc}\n{exc.caret}".rstrip()) from exc
        click.echo(f"{position.name}：第{rule.version}版自{rule.effective_from}起生效")

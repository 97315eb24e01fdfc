"""``countydesk tenant load DIR`` / ``countydesk tenant export SLUG DIR``."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from app.tenantio.problems import TenantFolderInvalid


@click.group("tenant")
def tenant_group() -> None:
    """县（租户）目录的导入与导出"""


@tenant_group.command("load")
@click.argument("folders", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--rename", is_flag=True, help="允许目录改变已有县的名称、地区或根单位（确是同一县改名时用）")
@with_appcontext
def load_command(folders: tuple[str, ...], rename: bool) -> None:
    """导入（或更新）一个或多个租户目录；有错误时不做任何修改。"""
    from app.tenantio.loader import load_tenant_folder

    for folder in folders:
        try:
            report = load_tenant_folder(folder, rename=rename)
        except TenantFolderInvalid as exc:
            raise click.ClickException(f"{folder}：{exc.message}") from exc
        click.echo(report.summary())


@tenant_group.command("export")
@click.argument("slug")
@click.argument("folder", type=click.Path(file_okay=False))
@with_appcontext
def export_command(slug: str, folder: str) -> None:
    """把一个县的配置与数据导出为租户目录（可再导入）。"""
    from app.core.errors import CountyDeskError
    from app.tenantio.exporter import export_tenant

    try:
        out = export_tenant(slug, folder)
    except CountyDeskError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"已导出到 {out}")

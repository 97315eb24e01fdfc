"""``countydesk user add``: accounts with a role and a tenant/region/org scope."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from app.security.services import UserError, add_user


@click.group("user")
def user_group() -> None:
    """用户管理"""


@user_group.command("add")
@click.argument("username")
@click.option("--tenant", "tenant_slug", help="所属县（租户）标识，省级用户用 --region")
@click.option("--region", help="省级查看用户的地区，如 福建省")
@click.option("--role", required=True, help="county_admin | town_clerk | village_worker | province_viewer")
@click.option("--scope", "scope_code", help="录入范围的组织机构代码（镇录入员为镇，村填报员为村）")
@click.option("--password", required=True)
@click.option("--name", "display_name", help="显示姓名")
@click.option("--party", help="会签环节中此用户代表的单位（如 人社局）；留空则可录入任一单位的意见")
@with_appcontext
def add_command(username: str, tenant_slug: str | None, region: str | None, role: str,
                scope_code: str | None, password: str, display_name: str | None, party: str | None) -> None:
    """新增或更新用户"""
    try:
        user = add_user(username, role=role, password=password, tenant_slug=tenant_slug, region=region,
                        scope_code=scope_code, display_name=display_name, party=party)
    except UserError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"用户 {user.username} 已保存")

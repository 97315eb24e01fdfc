"""Creating users with a role and a scope, validated the same way for CLI, demo and tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.core.errors import CountyDeskError
from app.core.models import Tenant
from app.core.tenancy import tenant_context
from app.extensions import db, get_appbuilder
from app.orgs.models import OrgUnit
from app.security.bootstrap import ensure_roles
from app.security.models import CountyUser
from app.security.roles import role_for


class UserError(CountyDeskError):
    status = 422


def add_user(username: str, *, role: str, password: str, tenant_slug: str | None = None,
             region: str | None = None, scope_code: str | None = None,
             display_name: str | None = None, party: str | None = None) -> Any:
    """Create or update a user; raises ``UserError`` with a Chinese message.

    ``party`` binds the user to the department (会签单位) they speak for in N-of-M approvals.
    """
    spec = role_for(role)
    if spec is None:
        raise UserError(f"未知角色「{role}」，可选：county_admin、town_clerk、village_worker、province_viewer")
    tenant = None
    if spec.regional:
        if not region:
            raise UserError("省级查看用户需要 --region（如 福建省）")
        if tenant_slug:
            raise UserError("省级查看用户不属于某个县，请只给 --region")
    else:
        if not tenant_slug:
            raise UserError(f"{spec.name}需要 --tenant")
        tenant = db.session.scalar(select(Tenant).where(Tenant.slug == tenant_slug))
        if tenant is None:
            raise UserError(f"县（租户）「{tenant_slug}」不存在")
    scope_org = None
    if spec.scope_level:
        if not scope_code:
            raise UserError(f"{spec.name}需要 --scope（{'镇' if spec.scope_level == 'town' else '村'}的组织机构代码）")
        assert tenant is not None
        with tenant_context(tenant.id):
            scope_org = db.session.scalar(select(OrgUnit).where(OrgUnit.code == scope_code))
        if scope_org is None:
            raise UserError(f"组织机构代码「{scope_code}」在{tenant.name}不存在")
        if scope_org.level != spec.scope_level:
            wanted = "镇（乡、街道）" if spec.scope_level == "town" else "村（社区）"
            raise UserError(f"{spec.name}的范围必须是{wanted}，「{scope_org.name}」不是")
    elif scope_code:
        raise UserError(f"{spec.name}不需要 --scope")
    ensure_roles()
    sm = get_appbuilder().sm
    fab_role = sm.find_role(spec.name)
    user = db.session.scalar(select(CountyUser).where(CountyUser.username == username))
    first = display_name or username
    if user is None:
        user = sm.add_user(username, first, "", f"{username}@countydesk.local", [fab_role], password=password)
        if not user:
            raise UserError(f"无法创建用户「{username}」")
        user = db.session.get(CountyUser, user.id)
    else:
        sm.reset_password(user.id, password)
        user.roles = [fab_role]
        user.first_name = first
    user.tenant_id = tenant.id if tenant else None
    user.region = region
    user.scope_org_id = scope_org.id if scope_org else None
    user.party = (party or "").strip() or None
    db.session.commit()
    return user

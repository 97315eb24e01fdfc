"""FAB security manager using ``CountyUser``; FAB's user and role screens stay platform-admin only."""

from __future__ import annotations

from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_appbuilder.security.views import UserDBModelView
from flask_babel import lazy_gettext

from app.security.models import CountyUser


class CountyUserDBModelView(UserDBModelView):
    list_columns = ["first_name", "last_name", "username", "tenant", "region", "scope_org", "roles", "active"]
    show_fieldsets = [
        (lazy_gettext("用户"), {"fields": ["first_name", "last_name", "username", "active", "roles", "login_count"]}),
        (lazy_gettext("范围"), {"fields": ["tenant", "region", "scope_org"]}),
    ]
    add_columns = ["first_name", "last_name", "username", "active", "email", "roles", "tenant", "region",
                   "scope_org", "password", "conf_password"]
    edit_columns = ["first_name", "last_name", "username", "active", "email", "roles", "tenant", "region",
                    "scope_org"]


class CountySecurityManager(SecurityManager):
    user_model = CountyUser
    userdbmodelview = CountyUserDBModelView

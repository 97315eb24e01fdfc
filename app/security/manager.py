"""FAB security manager using ``CountyUser``; FAB's user and role screens stay platform-admin only."""

from __future__ import annotations

from typing import Any

from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_appbuilder.security.views import UserDBModelView
from flask_babel import lazy_gettext
from sqlalchemy.orm import joinedload

from app.security.models import CountyUser


class CountyUserDBModelView(UserDBModelView):
    list_columns = ["first_name", "last_name", "username", "tenant", "region", "scope_org", "party", "roles",
                    "active"]
    show_fieldsets = [
        (lazy_gettext("用户"), {"fields": ["first_name", "last_name", "username", "active", "roles", "login_count"]}),
        (lazy_gettext("范围"), {"fields": ["tenant", "region", "scope_org", "party"]}),
    ]
    add_columns = ["first_name", "last_name", "username", "active", "email", "roles", "tenant", "region",
                   "scope_org", "party", "password", "conf_password"]
    edit_columns = ["first_name", "last_name", "username", "active", "email", "roles", "tenant", "region",
                    "scope_org", "party"]
    label_columns = {**UserDBModelView.label_columns, "party": lazy_gettext("会签单位")}
    description_columns = {**UserDBModelView.description_columns,
                           "party": lazy_gettext("会签环节中此用户代表的单位（如 人社局）：只能代表该单位表态；"
                                                 "留空则可录入任一单位的意见")}


class CountySecurityManager(SecurityManager):
    user_model = CountyUser
    userdbmodelview = CountyUserDBModelView

    def get_user_by_id(self, pk: Any) -> Any:
        """The request's user with its roles and groups in one statement.

        Every request loads its user, and every request then reads the roles (scope, menu, access
        checks): loading them lazily cost two more round trips and their ORM work on every page.
        """
        return self.session.get(self.user_model, pk,
                                options=[joinedload(self.user_model.roles), joinedload(self.user_model.groups)])

    @property
    def is_auth_limited(self) -> bool:
        """FAB's own limit (web form only, per address) gives way to ``app.security.login_limits``."""
        return False

    def register_views(self) -> None:
        super().register_views()
        from flask import current_app

        from app.security import login_limits

        login_limits.install(current_app, self.limiter)

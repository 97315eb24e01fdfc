"""Base classes for tenant-scoped screens and APIs: declarations only, no scoping logic.

Scoping happens in the data layer (``app.core.tenancy``); these bases only set the
defaults every screen shares and turn the data layer's refusals into proper answers
(FAB's API wraps every method in a catch-all that would otherwise answer 500).
"""

from __future__ import annotations

from typing import Any

from flask_appbuilder import ModelRestApi, ModelView

from app.core.errors import CountyDeskError
from app.core.idcard import IdNumberError
from app.extensions import db


class TenantModelView(ModelView):
    page_size = 50
    base_order = ("id", "asc")


class TenantModelApi(ModelRestApi):
    page_size = 50
    max_page_size = 500
    allow_browser_login = True

    def _refusal(self, exc: Exception) -> Any:
        db.session.rollback()
        if isinstance(exc, CountyDeskError):
            return self.response(exc.status, message=exc.message)
        return self.response_422(message=str(exc))

    def post_headless(self) -> Any:
        try:
            return super().post_headless()
        except (CountyDeskError, IdNumberError) as exc:
            return self._refusal(exc)

    def put_headless(self, pk: Any) -> Any:
        try:
            return super().put_headless(pk)
        except (CountyDeskError, IdNumberError) as exc:
            return self._refusal(exc)

    def delete_headless(self, pk: Any) -> Any:
        try:
            return super().delete_headless(pk)
        except (CountyDeskError, IdNumberError) as exc:
            return self._refusal(exc)

"""Base classes for tenant-scoped screens and APIs: declarations only, no scoping logic.

Scoping happens in the data layer (``app.core.tenancy``); these bases only set the
defaults every screen shares and turn the data layer's refusals into proper answers
(FAB's API wraps every method in a catch-all that would otherwise answer 500).
"""

from __future__ import annotations

from collections.abc import Callable
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

    def _answer_refusals(self, write: Callable[..., Any], *args: Any) -> Any:
        try:
            return write(*args)
        except (CountyDeskError, IdNumberError) as exc:
            db.session.rollback()
            status = exc.status if isinstance(exc, CountyDeskError) else 422
            return self.response(status, message=getattr(exc, "message", str(exc)))

    def post_headless(self) -> Any:
        return self._answer_refusals(super().post_headless)

    def put_headless(self, pk: Any) -> Any:
        return self._answer_refusals(super().put_headless, pk)

    def delete_headless(self, pk: Any) -> Any:
        return self._answer_refusals(super().delete_headless, pk)

"""Base classes for tenant-scoped screens and APIs: declarations only, no scoping logic.

Scoping happens in the data layer (``app.core.tenancy``); these bases only set the
defaults every screen shares and turn the data layer's refusals into proper answers
(FAB's API wraps every method in a catch-all that would otherwise answer 500).

Every screen gets two things from here without declaring anything:

* the record's history (``修改历史``) under its show page, read from the audit trail;
* optimistic locking on models with a ``row_version`` column: the edit form carries the
  version in a hidden field, a stale save shows a conflict page with both versions side by
  side; the API shows ``row_version`` and requires it on PUT (409 when stale, 422 when absent).
  The data layer (``app.core.locking.bump_row_version``) enforces the same at flush.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import request, url_for
from flask_appbuilder import ModelRestApi, ModelView
from flask_babel import gettext
from flask_babel import lazy_gettext as _
from sqlalchemy import select
from wtforms import HiddenField

from app.core.audit import entity_of, history
from app.core.errors import CountyDeskError
from app.core.idcard import IdNumberError, mask_id_number
from app.core.locking import VERSION_KEY, VERSION_MISSING_KEY, EditConflict, check_row_version, is_versioned
from app.extensions import db

VERSION_LABEL = _("版本")


def _to_int(value: Any) -> int | None:
    return int(value) if value not in (None, "") else None


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return gettext("是") if value else gettext("否")
    return str(value)


class TenantModelView(ModelView):
    page_size = 50
    base_order = ("id", "asc")
    show_template = "countydesk/audit_show.html"
    edit_template = "countydesk/conflict_edit.html"

    def __init__(self, **kwargs: Any) -> None:
        model = self.datamodel.obj
        self._versioned = is_versioned(model)
        columns: list[str] | None = getattr(self, "edit_columns", None)
        if self._versioned and columns and VERSION_KEY not in columns:
            extra: dict[str, Any] = getattr(self, "edit_form_extra_fields", None) or {}
            self.edit_columns = [*columns, VERSION_KEY]
            self.edit_form_extra_fields = {**extra, VERSION_KEY: HiddenField(filters=[_to_int])}
        super().__init__(**kwargs)

    # -- history on the show page ------------------------------------------------------------

    def _show(self, pk: Any) -> Any:
        widgets = super()._show(pk)
        item = self.datamodel.get(pk, self._base_filters)
        audited = getattr(self.datamodel.obj, "__audited__", True)
        widgets["history"] = self.history_rows(item) if item is not None and audited else None
        return widgets

    def _label(self, key: str) -> str:
        if key == VERSION_KEY:
            return str(VERSION_LABEL)
        for candidate in (key, key.removesuffix("_id")):
            if candidate in self.label_columns:
                return str(self.label_columns[candidate])
        return key

    def history_rows(self, item: Any) -> list[dict[str, Any]]:
        """The record's audit events, newest first, with Chinese field labels."""
        events = history(entity_of(item), self.datamodel.get_pk_value(item))
        users = _usernames({e.user_id for e in events if e.user_id is not None})
        rows = []
        for e in reversed(events):
            before, after = e.before or {}, e.after or {}
            keys = list(after) if e.action != "delete" else list(before)
            changes = [{"label": self._label(k), "before": _shown(before.get(k)), "after": _shown(after.get(k))}
                       for k in keys if k != "id"]
            rows.append({"at": e.at.strftime("%Y-%m-%d %H:%M:%S") if e.at else "", "action": e.action_label,
                         "user": users.get(e.user_id or 0, "—"), "source": e.source or "", "changes": changes})
        return rows

    # -- optimistic locking on the edit screen -----------------------------------------------

    def _edit(self, pk: Any) -> Any:
        if request.method == "POST" and self._versioned:
            item = self.datamodel.get(pk, self._base_filters)
            if item is not None:
                try:
                    check_row_version(getattr(item, VERSION_KEY), request.form.get(VERSION_KEY))
                except EditConflict as exc:
                    return self._conflict_widgets(item, exc)
        return super()._edit(pk)

    def _conflict_widgets(self, item: Any, exc: EditConflict) -> dict[str, Any]:
        """Both versions side by side: what is saved now (theirs) and what this clerk typed (mine)."""
        form = self.edit_form.refresh(request.form)
        rows = []
        for col in self.edit_columns:
            if col == VERSION_KEY:
                continue
            theirs = getattr(item, col, None)
            mine = form[col].data if col in form else None
            if col == "id_number":
                theirs, mine = mask_id_number(theirs), mask_id_number(mine)
            rows.append({"label": self._label(col), "theirs": _shown(theirs), "mine": _shown(mine),
                         "differs": _shown(theirs) != _shown(mine)})
        pk = self.datamodel.get_pk_value(item)
        return {"conflict": exc, "conflict_rows": rows,
                "reload_url": url_for(f"{self.endpoint}.edit", pk=pk),
                "show_url": url_for(f"{self.endpoint}.show", pk=pk)}


def _usernames(ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    from app.security.models import CountyUser

    rows = db.session.execute(select(CountyUser.id, CountyUser.username).where(CountyUser.id.in_(ids)))
    return {r.id: r.username for r in rows}


class TenantModelApi(ModelRestApi):
    page_size = 50
    max_page_size = 500
    allow_browser_login = True

    def __init__(self) -> None:
        self._versioned = is_versioned(self.datamodel.obj)
        if self._versioned:
            for attr in ("list_columns", "show_columns", "edit_columns"):
                columns = getattr(self, attr, None)
                if columns and VERSION_KEY not in columns:
                    setattr(self, attr, [*columns, VERSION_KEY])
        super().__init__()

    def _answer_refusals(self, write: Callable[..., Any], *args: Any) -> Any:
        try:
            return write(*args)
        except EditConflict as exc:
            db.session.rollback()
            return self.response(409, message=exc.message, current_version=exc.current_version,
                                 submitted_version=exc.submitted_version, theirs=exc.theirs, yours=exc.mine)
        except (CountyDeskError, IdNumberError) as exc:
            db.session.rollback()
            status = exc.status if isinstance(exc, CountyDeskError) else 422
            return self.response(status, message=getattr(exc, "message", str(exc)))

    def post_headless(self) -> Any:
        return self._answer_refusals(super().post_headless)

    def put_headless(self, pk: Any) -> Any:
        body = request.get_json(silent=True)
        # Checked at flush, after the tenant and capture-scope guards (403 before 422).
        missing = self._versioned and isinstance(body, dict) and VERSION_KEY not in body
        db.session.info[VERSION_MISSING_KEY] = missing
        try:
            return self._answer_refusals(super().put_headless, pk)
        finally:
            db.session.info.pop(VERSION_MISSING_KEY, None)

    def delete_headless(self, pk: Any) -> Any:
        return self._answer_refusals(super().delete_headless, pk)


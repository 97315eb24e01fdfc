"""Base classes for tenant-scoped screens and APIs: declarations only, no scoping logic.

Scoping happens in the data layer (``app.core.tenancy``); these bases only set the
defaults every screen shares and turn the data layer's refusals into proper answers
(FAB's API wraps every method in a catch-all that would otherwise answer 500).

Every screen gets these from here without declaring anything:

* the record's history (``修改历史``) under its show page, read from the audit trail;
* optimistic locking on models with a ``row_version`` column: the edit form carries the
  version in a hidden field, a stale save shows a conflict page with both versions side by
  side; the API shows ``row_version`` and requires it on PUT (409 when stale, 422 when absent).
  The data layer (``app.core.locking.bump_row_version``) enforces the same at flush.
  Deletes too: the list's delete buttons carry the row's version (a stale or version-less screen
  delete is refused), and ``DELETE /api/…/<pk>?row_version=N`` answers 409 when N is stale;
* 导出 Excel on every list (``app.core.list_export``): the current filters and search, all pages;
* hooks the custom-fields mixin fills (``list_extra_columns``, ``list_joined_filters``,
  ``export_extra_columns``, ``extra_field_labels``, ``conflict_extra_rows``), so a county's own
  fields appear as list columns, in the search, the export, the history and the conflict page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, flash, request, url_for
from flask_appbuilder import ModelRestApi, ModelView, expose
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_appbuilder.widgets import ListWidget
from flask_babel import gettext
from flask_babel import lazy_gettext as _
from sqlalchemy import inspect
from sqlalchemy.exc import DataError
from werkzeug.routing import BuildError
from wtforms import HiddenField

from app.core import schema_messages  # noqa: F401  (Chinese marshmallow messages before FAB builds schemas)
from app.core.api_answers import ChineseAnswers
from app.core.audit import committed_snapshot, entity_of, history
from app.core.audit_display import reference_labels, shown
from app.core.errors import CountyDeskError
from app.core.idcard import IdNumberError, mask_id_number
from app.core.input_rules import api_validators, form_validators, screen_labels
from app.core.locking import (
    VERSION_KEY,
    VERSION_MISSING_KEY,
    EditConflict,
    RowVersionMissing,
    check_row_version,
    claim_for_delete,
    is_versioned,
    parse_version,
)
from app.core.tenancy import check_may_change, current_scope
from app.core.users import usernames
from app.core.write_guard import guard_datamodel
from app.extensions import db

VERSION_LABEL = _("版本")


def _to_int(value: Any) -> int | None:
    return int(value) if value not in (None, "") else None


def _named(lookup: dict[Any, str], value: Any) -> Any:
    """A foreign key's label; anything else (JSON values included, which cannot be looked up) as stored."""
    if lookup and isinstance(value, (int, str)):
        return lookup.get(value, shown(value))
    return shown(value)


class VersionedListWidget(ListWidget):
    """FAB's list table whose delete buttons carry each row's ``row_version`` (a stale delete is refused)."""

    template = "countydesk/widgets/versioned_list.html"


class TenantModelView(ModelView):
    page_size = 50
    base_order = ("id", "asc")
    list_template = "countydesk/tenant_list.html"
    list_widget = VersionedListWidget
    show_template = "countydesk/audit_show.html"
    edit_template = "countydesk/conflict_edit.html"
    exclude_route_methods = {"download"}
    """FAB's file download (``/download/<filename>`` from the upload folder): no county table has file
    columns, and ``can_download`` is a read permission here (it guards 导出 Excel)."""
    export_enabled = True
    """导出 Excel on the list (the rows of the current filters, all pages; ``app.core.list_export``)."""

    def __init__(self, **kwargs: Any) -> None:
        model = self.datamodel.obj
        self._versioned = is_versioned(model)
        columns: list[str] | None = getattr(self, "edit_columns", None)
        if self._versioned and columns and VERSION_KEY not in columns:
            extra: dict[str, Any] = getattr(self, "edit_form_extra_fields", None) or {}
            self.edit_columns = [*columns, VERSION_KEY]
            self.edit_form_extra_fields = {**extra, VERSION_KEY: HiddenField(filters=[_to_int])}
        self.validators_columns = form_validators(model, _column_keys(model), self.label_columns,
                                                  getattr(self, "validators_columns", None))
        super().__init__(**kwargs)
        guard_datamodel(self.datamodel, lambda: {k: str(v) for k, v in self.label_columns.items()})

    def pre_add(self, item: Any) -> None:
        """The write guard asked before FAB saves: FAB shows a refusal at save only as "Database Error"."""
        check_may_change(db.session, item, is_new=True)
        super().pre_add(item)

    def pre_update(self, item: Any) -> None:
        check_may_change(db.session, item)
        super().pre_update(item)

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
        # a foreign key is labelled as its relationship (FAB also generates "Org Unit Id" for the column)
        for candidate in (key.removesuffix("_id"), key) if key.endswith("_id") else (key,):
            if candidate in self.label_columns:
                return str(self.label_columns[candidate])
        return key

    def history_rows(self, item: Any) -> list[dict[str, Any]]:
        """The record's audit events, newest first, with Chinese field labels."""
        events = history(entity_of(item), self.datamodel.get_pk_value(item))
        return self.describe_events(list(reversed(events)))

    def describe_events(self, events: list[Any]) -> list[dict[str, Any]]:
        """Audit events as a clerk reads them: field labels, and names instead of ids.

        Why at display time: the trail stores what was written (ids), so it stays true when a unit is
        renamed; labels are looked up now, within the tenant, and a target since deleted shows its
        id marked （已删除）. Custom-field values (``extra``) are shown one field per line.
        """
        users = usernames({e.user_id for e in events if e.user_id is not None})
        refs = reference_labels(self.datamodel.obj, [(e.before or {}, e.after or {}) for e in events])
        extra_labels = self.extra_field_labels()
        rows = []
        for e in events:
            before, after = e.before or {}, e.after or {}
            keys = list(after) if e.action != "delete" else list(before)
            changes: list[dict[str, Any]] = []
            for k in keys:
                if k == "id":
                    continue
                if k == "extra":
                    changes += _extra_changes(before.get(k), after.get(k), extra_labels)
                    continue
                lookup = refs.get(k, {})
                changes.append({"label": self._label(k), "before": _named(lookup, before.get(k)),
                                "after": _named(lookup, after.get(k))})
            rows.append({"at": e.at.strftime("%Y-%m-%d %H:%M:%S") if e.at else "", "action": e.action_label,
                         "user": users.get(e.user_id or 0, "—"), "source": e.source or "", "changes": changes})
        return rows

    def extra_field_labels(self) -> dict[str, str]:
        """Labels of the tenant's custom fields kept in ``extra`` (none here; see the custom-fields mixin)."""
        return {}

    # -- the list: extra columns, filters, delete buttons with versions, export -----------------------

    def list_extra_columns(self) -> list[tuple[str, str]]:
        """(column name, label) shown after ``list_columns`` (the tenant's listed custom fields)."""
        return []

    def list_extra_values(self, item: Any) -> dict[str, Any]:
        return {}

    def list_joined_filters(self, filters: Any) -> Any:
        """The filters a list (and its export) applies: the user's, the view's base filters, more by hooks."""
        return filters.get_joined_filters(self._base_filters)

    def list_search_panel(self) -> dict[str, Any] | None:
        """A search panel beside FAB's (custom fields); None: none."""
        return None

    def checked_order(self, order_column: str, order_direction: str) -> tuple[str, str]:
        """Sort only by a sortable column; anything else falls back to the view's default order."""
        allowed = [*self.order_columns, *[name for name, _label in self.list_extra_columns()]]
        if order_column and order_column in allowed:
            return order_column, order_direction if order_direction in ("asc", "desc") else "asc"
        return self.base_order or ("", "")

    def _get_list_widget(self, filters: Any, actions: Any = None, order_column: str = "", order_direction: str = "",
                         page: Any = None, page_size: Any = None, widgets: Any = None, **kwargs: Any) -> Any:
        """FAB's list, plus custom-field columns, each row's version (delete buttons) and the export link."""
        widgets = widgets or {}
        actions = actions or self.actions
        page_size = page_size or self.page_size
        extra = self.list_extra_columns()
        order_column, order_direction = self.checked_order(order_column, order_direction)
        count, items = self.datamodel.query(self.list_joined_filters(filters), order_column, order_direction,
                                            page=page, page_size=page_size)
        pks = [self._serialize_pk_if_composite(pk) for pk in self.datamodel.get_keys(items)]
        values = list(self.datamodel.get_values(items, self.list_columns))
        if extra:
            for row, item in zip(values, items, strict=True):
                row.update(self.list_extra_values(item))
        versions = {str(pk): getattr(item, VERSION_KEY, None) for pk, item in zip(pks, items, strict=True)} \
            if self._versioned else {}
        widgets["list"] = self.list_widget(
            label_columns={**self.label_columns, **dict(extra)},
            include_columns=[*self.list_columns, *[name for name, _label in extra]], value_columns=values,
            order_columns=[*self.order_columns, *[name for name, _label in extra]],
            formatters_columns=self.formatters_columns, page=page, page_size=page_size, count=count, pks=pks,
            actions=actions, filters=filters, modelview_name=self.__class__.__name__, row_versions=versions,
            **kwargs)
        widgets["export_url"] = self._export_url()
        scope = current_scope()
        widgets["export_note"] = gettext("；仅含本辖区的记录") if scope and scope.capture_path else ""
        widgets["cf_search"] = self.list_search_panel()
        return widgets

    def _export_url(self) -> str | None:
        if not self.export_enabled or not self.appbuilder.sm.has_access("can_download", self.class_permission_name):
            return None
        try:
            url = url_for(f"{self.endpoint}.export_xlsx")
        except BuildError:  # a view that leaves the route out (include_route_methods)
            return None
        query = request.query_string.decode()
        return f"{url}?{query}" if query else url

    @expose("/export_xlsx/")
    @has_access
    @permission_name("download")
    def export_xlsx(self) -> Any:
        """The rows of the current filters and search (every page) as xlsx, headers as on the list."""
        from app.core.list_export import export_list

        if not self.export_enabled:
            abort(404)
        return export_list(self)

    def export_extra_columns(self) -> list[tuple[str, Callable[[Any], Any]]]:
        """(header, getter) exported after the list's columns (every custom field of the tenant)."""
        return []

    # -- version-checked delete --------------------------------------------------------------------

    def _delete(self, pk: Any) -> None:
        """Delete only the version the clerk saw: the list's delete buttons post ``row_version``.

        A row changed since (or a delete without a version) is refused with the conflict message and
        stays; FAB then goes back to the list, where the current values show.
        """
        if not self._versioned:
            return super()._delete(pk)  # type: ignore[no-any-return]
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            abort(404)
        try:
            submitted = parse_version(request.values.get(VERSION_KEY))
            claim_for_delete(db.session, item, submitted)
        except CountyDeskError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
            self.update_redirect()
            return None
        return super()._delete(pk)  # type: ignore[no-any-return]

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
            rows.append({"label": self._label(col), "theirs": shown(theirs), "mine": shown(mine),
                         "differs": shown(theirs) != shown(mine)})
        rows += self.conflict_extra_rows(item, form)
        pk = self.datamodel.get_pk_value(item)
        return {"conflict": exc, "conflict_rows": rows,
                "reload_url": url_for(f"{self.endpoint}.edit", pk=pk),
                "show_url": url_for(f"{self.endpoint}.show", pk=pk)}

    def conflict_extra_rows(self, item: Any, form: Any) -> list[dict[str, Any]]:
        """More rows of the conflict page (the custom fields' saved and typed values)."""
        return []


def _extra_changes(before: Any, after: Any, labels: dict[str, str]) -> list[dict[str, Any]]:
    """One change per custom field whose value differs (``extra`` is stored whole)."""
    old = before if isinstance(before, dict) else {}
    new = after if isinstance(after, dict) else {}
    keys = [k for k in labels if k in old or k in new] + [k for k in {**old, **new} if k not in labels]
    return [{"label": labels.get(k, k), "before": shown(old.get(k)), "after": shown(new.get(k))}
            for k in keys if old.get(k) != new.get(k)]


def _column_keys(model: type) -> list[str]:
    mapper: Any = inspect(model)
    return [c.key for c in mapper.column_attrs]


class TenantModelApi(ChineseAnswers, ModelRestApi):
    page_size = 50
    max_page_size = 500
    allow_browser_login = False  # /api/ is CSRF-exempt: a session cookie must not authenticate it

    def __init__(self) -> None:
        self._versioned = is_versioned(self.datamodel.obj)
        if self._versioned:
            for attr in ("list_columns", "show_columns", "edit_columns"):
                columns = getattr(self, attr, None)
                if columns and VERSION_KEY not in columns:
                    setattr(self, attr, [*columns, VERSION_KEY])
        model = self.datamodel.obj
        self.validators_columns = api_validators(model, _column_keys(model), screen_labels(model),
                                                 getattr(self, "validators_columns", None))
        super().__init__()
        guard_datamodel(self.datamodel, lambda: {k: str(v) for k, v in screen_labels(model).items()})

    def get_headless(self, pk: Any, **kwargs: Any) -> Any:
        return self._answer_refusals(super().get_headless, pk, **kwargs)

    def get_list_headless(self, **kwargs: Any) -> Any:
        return self._answer_refusals(super().get_list_headless, **kwargs)

    def _answer_refusals(self, write: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return write(*args, **kwargs)
        except EditConflict as exc:
            db.session.rollback()
            return self.response(409, message=exc.message, current_version=exc.current_version,
                                 submitted_version=exc.submitted_version, theirs=exc.theirs, yours=exc.mine)
        except (CountyDeskError, IdNumberError) as exc:
            db.session.rollback()
            status = exc.status if isinstance(exc, CountyDeskError) else 422
            return self.response(status, message=getattr(exc, "message", str(exc)))
        except (OverflowError, DataError):  # a related id beyond the database's integers, read by the schema
            db.session.rollback()
            return self.response(422, message="有编号或数值超出允许范围（太大），请检查后重试")

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
        """``DELETE …/<pk>?row_version=N`` deletes only version N: 409 when stale, 422 when absent (as PUT)."""
        return self._answer_refusals(self._checked_delete, pk)

    def _checked_delete(self, pk: Any) -> Any:
        item = self.datamodel.get(pk, self._base_filters) if self._versioned else None
        if item is not None:  # not found (or another county's): FAB answers 404 below
            check_may_change(db.session, item)
            version = parse_version(request.args.get(VERSION_KEY))
            if version is None:
                raise RowVersionMissing()
            claim_for_delete(db.session, item, version, theirs=committed_snapshot(item))
        return super().delete_headless(pk)


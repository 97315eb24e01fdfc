"""导出 Excel on every tenant list: the rows of the current filters and search, all pages, as xlsx.

What is exported is what the list shows — its columns (Chinese headers = the list's labels, so an ID
number is masked exactly when the list masks it), then every custom field of the county — for all
rows of the current filters, search and order, not just the page on screen.

Why the export of a town clerk or village worker is cut to their own area while their list shows the
whole county: a list is read page by page, an export takes every person's phone and bank data at
once; bulk copies of personal data stay with the people who manage them (the capture scope).
Rows without an org unit (county-wide configuration such as positions) are not cut.

Reads go through the ORM, so tenant scoping holds as on the list (another county's row can never be
exported). Large lists are capped (``COUNTYDESK_EXPORT_MAX_ROWS``, default 50,000): above it nothing
is exported and the list says why, in Chinese.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, request, url_for
from flask_appbuilder.urltools import get_filter_args, get_order_args
from markupsafe import Markup
from sqlalchemy import inspect, select
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.interfaces import MANYTOONE

from app.core.tenancy import current_scope
from app.core.xlsx_export import Column, send_xlsx, write_xlsx

DEFAULT_MAX_ROWS = 50_000
BATCH = 500


def max_rows() -> int:
    return int(current_app.config.get("COUNTYDESK_EXPORT_MAX_ROWS") or DEFAULT_MAX_ROWS)


def export_list(view: Any) -> Any:
    """The xlsx download of ``view``'s current list (a :class:`~app.core.views.TenantModelView`)."""
    datamodel = view.datamodel
    model = datamodel.obj
    get_filter_args(view._filters)
    order_column, order_direction = (get_order_args().get(view.__class__.__name__) or ("", ""))
    order_column, order_direction = view.checked_order(order_column, order_direction)
    query = datamodel.apply_all(datamodel.session.query(model), view.list_joined_filters(view._filters),
                                order_column, order_direction)
    query = in_capture_scope(query, model)
    total = query.order_by(None).count()
    limit = max_rows()
    if total > limit:
        flash(f"共 {total:,} 行，超过导出上限 {limit:,} 行，未导出。"
              "请先用搜索条件缩小范围（例如按单位或期间）后再导出。", "warning")
        return redirect(_list_url(view))
    for rel in _many_to_one_roots(model, view.list_columns):
        query = query.options(joinedload(getattr(model, rel)))
    columns = list_columns(view)
    rows = query.yield_per(BATCH)
    title = str(view.list_title or model.__tablename__)
    return send_xlsx(write_xlsx(columns, rows, sheet_title=title), f"{title}.xlsx")


def list_columns(view: Any) -> list[Column]:
    """(header, getter) of the list's columns, then the view's extra export columns (custom fields)."""
    get_value = view.datamodel._get_attr_value
    formatters = view.formatters_columns or {}
    columns: list[Column] = [(str(view.label_columns.get(col, col)), _getter(get_value, col, formatters.get(col)))
                             for col in view.list_columns]
    return columns + list(view.export_extra_columns())


def _getter(get_value: Any, col: str, formatter: Any) -> Any:
    """The cell of a column: the list's formatter when it gives plain text (操作日志's 对象), else the raw value."""

    def value(item: Any) -> Any:
        raw = get_value(item, col)
        if formatter is None:
            return raw
        shown = formatter(raw)
        return raw if isinstance(shown, Markup) or not isinstance(shown, str) else shown

    return value


def _many_to_one_roots(model: Any, columns: list[str]) -> list[str]:
    """Relationships the list shows (``org_unit``, ``parent.name``): loaded with the rows, not one by one."""
    mapper = inspect(model)
    roots = {col.split(".")[0] for col in columns}
    return [r.key for r in mapper.relationships if r.key in roots and r.direction is MANYTOONE]


def in_capture_scope(query: Any, model: Any) -> Any:
    """Only rows under the user's capture path (town clerk: the town; village worker: the village).

    A model is placed by its own ``path`` (org units) or by the org unit its ``__scope_org_attr__``
    points at (people, appointments, population facts); other models are county-wide and not cut.
    """
    scope = current_scope()
    if scope is None or scope.capture_path is None:
        return query
    mapper = inspect(model)
    if "path" in mapper.column_attrs and hasattr(model, "scope_org_ids"):
        return query.filter(model.path.startswith(scope.capture_path, autoescape=True))
    attr = getattr(model, "__scope_org_attr__", None)
    if not attr:
        return query
    for rel in mapper.relationships:
        if rel.direction is MANYTOONE and any(c.key == attr for c in rel.local_columns):
            target = rel.mapper.class_
            units = select(target.id).where(target.path.startswith(scope.capture_path, autoescape=True))
            return query.filter(getattr(model, attr).in_(units))
    return query


def _list_url(view: Any) -> str:
    url = url_for(f"{view.endpoint}.list")
    query = request.query_string.decode()
    return f"{url}?{query}" if query else url

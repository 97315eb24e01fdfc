"""Lists out as xlsx or csv, with Chinese headers, typed cells and no formula injection.

A county's data is typed by clerks and villagers: a name such as ``=cmd|' /C calc'!A0`` must come
back out as that text, never as a formula Excel would run. Strings that start with ``= + - @``,
a tab or a carriage return are written as text cells (xlsx: string type plus the quote prefix
style, so Excel shows them as typed) and, in CSV where there are no types, behind a ``'``.
Control characters an xlsx cannot hold (stored by an old database or another path) come out as
U+FFFD rather than failing the whole export (``app.core.text_rules.spreadsheet_safe``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import Decimal
from itertools import islice
from typing import Any
from urllib.parse import quote

from flask import Response

from app.core.text_rules import spreadsheet_safe

Getter = Callable[[Any], Any] | str | int
Column = tuple[Any, Getter]
"""(header label — str or lazy string, getter: a callable of the row, a key / attribute name, or an index)."""

INJECTION_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
SAMPLE_ROWS = 200
"""Rows looked at to size the columns; the rest stream through without being kept."""
MAX_WIDTH = 60


def is_dangerous(value: str) -> bool:
    return value.startswith(INJECTION_PREFIXES)


def cell_value(row: Any, getter: Getter) -> Any:
    if callable(getter):
        return getter(row)
    if isinstance(getter, int):
        return row[getter] if getter < len(row) else None
    if isinstance(row, Mapping):
        return row.get(getter)
    return getattr(row, getter, None)


def _plain(value: Any) -> Any:
    """Python value → what a cell holds: numbers and dates keep their type, the rest is text."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, (int, float, Decimal, dt.date)):
        return value
    return str(value)


def _display_width(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, dt.datetime):
        return 19
    if isinstance(value, dt.date):
        return 10
    text = str(value)
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def write_xlsx(columns: list[Column], rows: Iterable[Any], sheet_title: str = "数据") -> bytes:
    """One sheet: a bold header row, then one row per item; streamed (write-only) for long lists."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=_sheet_title(sheet_title))
    headers = [str(label) for label, _ in columns]
    iterator: Iterator[Any] = iter(rows)
    sample = [[_plain(cell_value(row, getter)) for _, getter in columns] for row in islice(iterator, SAMPLE_ROWS)]
    for index, header in enumerate(headers):
        width = max([_display_width(header)] + [_display_width(values[index]) for values in sample])
        sheet.column_dimensions[get_column_letter(index + 1)].width = min(MAX_WIDTH, width + 2)
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)

    def header_cell(text: str) -> Any:
        cell = WriteOnlyCell(sheet, value=spreadsheet_safe(text))
        cell.font = bold
        return cell

    def data_cell(value: Any) -> Any:
        """Plain values stream fast (openpyxl formats dates itself); only risky text gets a styled cell."""
        if not isinstance(value, str):
            return value
        value = spreadsheet_safe(value)
        if is_dangerous(value):
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"  # openpyxl made it a formula ("="): keep it the text it is
            cell.quotePrefix = True
            return cell
        return value

    sheet.append([header_cell(h) for h in headers])
    for values in sample:
        sheet.append([data_cell(v) for v in values])
    for row in iterator:
        sheet.append([data_cell(_plain(cell_value(row, getter))) for _, getter in columns])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sheet_title(title: str) -> str:
    cleaned = "".join("_" if ch in "[]:*?/\\" or not ch.isprintable() else ch for ch in str(title)).strip() or "数据"
    return cleaned[:31]


def csv_text(value: Any) -> str:
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    return "'" + text if not isinstance(value, (int, float, Decimal)) and is_dangerous(text) else text


def write_csv(columns: list[Column], rows: Iterable[Any]) -> bytes:
    """UTF-8 with a BOM (Excel then reads Chinese correctly); dangerous strings behind a ``'``."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([str(label) for label, _ in columns])
    for row in rows:
        writer.writerow([csv_text(cell_value(row, getter)) for _, getter in columns])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIME = "text/csv; charset=utf-8"


def tenant_filename(filename: str) -> str:
    """Prefix the current county's slug: files saved from two counties never look alike."""
    from app.core.models import Tenant
    from app.core.tenancy import current_tenant_id
    from app.extensions import db

    tenant_id = current_tenant_id()
    tenant = db.session.get(Tenant, tenant_id) if tenant_id is not None else None
    if tenant is None or filename.startswith(f"{tenant.slug}-"):
        return filename
    return f"{tenant.slug}-{filename}"


def content_disposition(filename: str) -> str:
    """RFC 6266/5987: an ASCII fallback plus ``filename*`` carrying the Chinese name in UTF-8."""
    fallback = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.") else "_" for ch in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def send_xlsx(data: bytes, filename: str) -> Response:
    return _send(data, filename, ".xlsx", XLSX_MIME)


def send_csv(data: bytes, filename: str) -> Response:
    return _send(data, filename, ".csv", CSV_MIME)


def _send(data: bytes, filename: str, ext: str, mimetype: str) -> Response:
    if not filename.lower().endswith(ext):
        filename += ext
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = content_disposition(tenant_filename(filename))
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response

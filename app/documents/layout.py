"""A print layout as data: what an official form (审批表) shows, independent of PDF or HTML.

A form definition (or any screen) builds a ``PrintDoc``; ``pdf.render_pdf`` and ``render_html``
draw the same document, so the paper and the screen never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PrintSection:
    heading: str
    rows: list[tuple[str, Any]] = field(default_factory=list)
    """(label, value): a bordered two-column table; long values wrap."""


@dataclass(frozen=True)
class PrintDoc:
    title: str
    subtitle: str = ""
    meta: list[tuple[str, Any]] = field(default_factory=list)
    """Small line above the table: 单位, 编号, 填报日期 …"""
    sections: list[PrintSection] = field(default_factory=list)
    signatures: list[str] = field(default_factory=list)
    """Labels of signature/date boxes at the bottom (经办人, 审核人, 单位盖章 …)."""
    footnote: str = ""


def display(value: Any) -> str:
    """The text a cell prints: empty for None, 是/否 for booleans, ISO dates."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def render_html(doc: PrintDoc, **context: Any) -> str:
    """The printable HTML page (A4, ``@media print``); Jinja autoescapes every value."""
    from flask import render_template

    return render_template("countydesk/print_doc.html", doc=doc, display=display, **context)

"""A4 PDF of a ``PrintDoc`` with reportlab: title, bordered two-column tables, signature boxes.

Chinese needs a CJK font. A TrueType font found on the machine (``COUNTYDESK_CJK_FONT``, then
WenQuanYi, Noto Sans SC TTF, AR PL in the usual Debian folders) is embedded, so the PDF looks the
same everywhere. Without one, reportlab's built-in CID font ``STSong-Light`` is used: it needs no
file, but the reader's PDF viewer supplies the glyphs. Fonts with PostScript (CFF) outlines —
Debian's ``fonts-noto-cjk`` .ttc files — cannot be embedded by reportlab and are skipped.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from app.documents.layout import PrintDoc, display

log = logging.getLogger(__name__)

FALLBACK_FONT = "STSong-Light"
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansSC-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSerifSC-Regular.ttf",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/usr/share/fonts/truetype/arphic/ukai.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
)


@dataclass(frozen=True)
class CjkFont:
    name: str
    """reportlab font name to use in styles."""
    path: str | None
    """File embedded, or None for the built-in CID font."""

    @property
    def embedded(self) -> bool:
        return self.path is not None


_registered: dict[str, CjkFont] = {}


def _try_ttf(path: str) -> CjkFont | None:
    if path in _registered:
        return _registered[path]
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFError, TTFont

    name = "CountyDeskCJK-" + Path(path).stem
    try:
        font = TTFont(name, path, subfontIndex=0) if path.lower().endswith(".ttc") else TTFont(name, path)
        pdfmetrics.registerFont(font)
    except (TTFError, OSError, ValueError, KeyError) as exc:  # CFF outlines, broken file …
        log.info("CJK font %s not usable: %s", path, exc)
        return None
    _registered[path] = CjkFont(name, path)
    return _registered[path]


def fallback_font() -> CjkFont:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if FALLBACK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FALLBACK_FONT))
    return CjkFont(FALLBACK_FONT, None)


def find_cjk_font(configured: str | None = None, candidates: tuple[str, ...] = FONT_CANDIDATES) -> CjkFont:
    """The configured font, else the first usable system font, else the built-in ``STSong-Light``."""
    if configured is None:
        from flask import current_app, has_app_context

        configured = current_app.config.get("COUNTYDESK_CJK_FONT") if has_app_context() else None
    for path in ([configured] if configured else []) + list(candidates):
        if Path(path).is_file():
            font = _try_ttf(path)
            if font is not None:
                return font
    return fallback_font()


def markup(value: object) -> str:
    """Plain text → Paragraph markup: ``<``, ``>`` and ``&`` escaped, line breaks kept."""
    return escape(display(value)).replace("\r\n", "\n").replace("\n", "<br/>")


def render_pdf(doc: PrintDoc, font: CjkFont | None = None) -> bytes:
    """The document as A4 PDF bytes."""
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER, TA_RIGHT
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font = font or find_cjk_font()
    base = ParagraphStyle("cd-base", fontName=font.name, fontSize=10.5, leading=15, wordWrap="CJK")
    title_style = ParagraphStyle("cd-title", parent=base, fontSize=18, leading=26, alignment=TA_CENTER,
                                 spaceAfter=2 * mm)
    subtitle_style = ParagraphStyle("cd-subtitle", parent=base, fontSize=11, alignment=TA_CENTER, spaceAfter=3 * mm)
    label_style = ParagraphStyle("cd-label", parent=base, alignment=TA_CENTER)
    heading_style = ParagraphStyle("cd-heading", parent=base, fontSize=11.5, alignment=TA_CENTER)
    date_style = ParagraphStyle("cd-date", parent=base, alignment=TA_RIGHT)
    small = ParagraphStyle("cd-small", parent=base, fontSize=9, leading=13)

    buffer = io.BytesIO()
    page = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=16 * mm, rightMargin=16 * mm, topMargin=18 * mm,
                             bottomMargin=18 * mm, title=doc.title, subject=doc.subtitle, creator="CountyDesk")
    width = page.width
    story: list[object] = [Paragraph(markup(doc.title), title_style)]
    if doc.subtitle:
        story.append(Paragraph(markup(doc.subtitle), subtitle_style))
    if doc.meta:
        meta_text = "　　".join(f"{markup(label)}：{markup(value)}" for label, value in doc.meta)
        story.append(Paragraph(meta_text, base))
        story.append(Spacer(1, 2 * mm))

    data: list[list[object]] = []
    commands: list[tuple[object, ...]] = [
        ("GRID", (0, 0), (-1, -1), 0.8, colors.black),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 4),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
    ]
    for section in doc.sections:
        if section.heading:
            row = len(data)
            data.append([Paragraph(markup(section.heading), heading_style), ""])
            commands += [("SPAN", (0, row), (1, row)), ("BACKGROUND", (0, row), (1, row), colors.HexColor("#f2f2f2"))]
        for label, value in section.rows:
            data.append([Paragraph(markup(label), label_style), Paragraph(markup(value), base)])
    if data:
        table = Table(data, colWidths=[width * 0.28, width * 0.72], splitByRow=1, splitInRow=1)
        table.setStyle(TableStyle(commands))
        story.append(table)

    if doc.signatures:
        story.append(Spacer(1, 4 * mm))
        cells = [[Paragraph(f"{markup(label)}：", base), Spacer(1, 12 * mm),
                  Paragraph("年　　月　　日", date_style)] for label in doc.signatures]
        boxes = Table([cells], colWidths=[width / len(doc.signatures)] * len(doc.signatures), rowHeights=[28 * mm])
        boxes.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.8, colors.black),
                                   ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        story.append(boxes)
    if doc.footnote:
        story.append(Spacer(1, 2 * mm))
        story.append(Paragraph(markup(doc.footnote), small))
    page.build(story)
    return buffer.getvalue()


def send_pdf(data: bytes, filename: str, inline: bool = True) -> object:
    """A Flask response; the filename (Chinese allowed) carries the tenant slug."""
    from flask import Response

    from app.core.xlsx_export import content_disposition, tenant_filename

    if not filename.lower().endswith(".pdf"):
        filename += ".pdf"
    response = Response(data, mimetype="application/pdf")
    disposition = content_disposition(tenant_filename(filename))
    response.headers["Content-Disposition"] = disposition.replace("attachment", "inline", 1) if inline else disposition
    return response

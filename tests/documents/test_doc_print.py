"""Print: A4 PDF with Chinese text (embedded system font, or the built-in fallback) and a printable page."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from app.documents.layout import PrintDoc, PrintSection, render_html
from app.documents.pdf import FONT_CANDIDATES, fallback_font, find_cjk_font, render_pdf

NAME = "欧阳小明"
EVIL = "<script>alert('x')</script> & <b>粗</b>"


def _doc() -> PrintDoc:
    long_text = "该同志工作认真负责，群众基础好。" * 30
    return PrintDoc(
        title="村级计生专干聘用审批表", subtitle="（2025年度）", meta=[("单位", "凤里街道"), ("编号", "SS-2025-001")],
        sections=[PrintSection("基本情况", [("姓名", NAME), ("性别", "男"), ("在岗", True), ("备注", EVIL)]),
                  PrintSection("审批意见", [("村委会意见", long_text)])],
        signatures=["经办人", "审核人", "单位（盖章）"], footnote="注：本表一式两份。")


def _text(pdf: bytes) -> tuple[str, PdfReader]:
    reader = PdfReader(io.BytesIO(pdf))
    return "".join(page.extract_text() or "" for page in reader.pages), reader


def _font_names(reader: PdfReader) -> set[str]:
    names = set()
    for page in reader.pages:
        fonts = page["/Resources"].get_object().get("/Font", {})
        for ref in fonts.values():
            names.add(str(ref.get_object()["/BaseFont"]))
    return names


def test_pdf_with_builtin_fallback_font_has_title_and_name():
    pdf = render_pdf(_doc(), font=fallback_font())
    text, reader = _text(pdf)
    assert pdf.startswith(b"%PDF") and abs(float(reader.pages[0].mediabox.width) - 595.27) < 1  # A4
    assert "村级计生专干聘用审批表" in text and NAME in text
    assert "<script>alert('x')</script> & <b>粗</b>" in text  # markup printed literally
    assert any("STSong-Light" in n for n in _font_names(reader))


def test_pdf_with_system_cjk_font_embeds_it():
    font = find_cjk_font(configured=None)
    if not font.embedded:
        pytest.skip("no embeddable CJK font installed (apt-get install fonts-wqy-microhei)")
    text, reader = _text(render_pdf(_doc(), font=font))
    assert "村级计生专干聘用审批表" in text and NAME in text
    assert not any("STSong" in n for n in _font_names(reader))


def test_font_search_falls_back_without_fonts(tmp_path):
    bogus = tmp_path / "not-a-font.ttf"
    bogus.write_bytes(b"this is no font")
    font = find_cjk_font(configured=str(bogus), candidates=(str(tmp_path / "missing.ttc"),))
    assert font.name == "STSong-Light" and not font.embedded
    assert FONT_CANDIDATES  # the usual Debian locations are searched by default


def test_long_values_wrap_onto_more_pages_not_off_the_page():
    doc = _doc()
    big = PrintDoc(doc.title, sections=[PrintSection("长文本", [("说明", "很长的说明文字。" * 900)])])
    text, reader = _text(render_pdf(big, font=fallback_font()))
    assert len(reader.pages) >= 2 and "".join(text.split()).count("很长的说明文字。") == 900  # nothing cut off


def test_print_html_escapes_values_and_is_a4(app):
    with app.test_request_context("/"):
        page = render_html(_doc())
    assert "村级计生专干聘用审批表" in page and NAME in page
    assert "<script>alert" not in page and "&lt;script&gt;" in page and "&amp; &lt;b&gt;" in page
    assert "@media print" in page and "size: A4" in page
    assert "经办人" in page and "是" in page

"""The UI is Chinese by default and English on request; the committed catalogs match the source.

Our own strings use Chinese msgids (no ``zh`` catalog needed); FAB's strings keep FAB's own
``zh`` catalog. The English catalog lives in ``app/translations/en`` and is loaded at run time
from the compiled ``.mo``, so the meta-tests below fail whenever a Chinese string is added
to the source without being extracted, translated and compiled.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_keywords, parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

from support import login

ROOT = Path(__file__).resolve().parents[2]
BABEL_CFG = ROOT / "babel.cfg"
TRANSLATIONS = ROOT / "app" / "translations"
POT = TRANSLATIONS / "messages.pot"
EN_PO = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"
EN_MO = EN_PO.with_suffix(".mo")
KEYWORDS = ["lazy_gettext", "_"]  # the -k options of the extract command below
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")

HOW_TO_FIX = """
Update the translations (from the repository root):

    .venv/bin/pybabel extract -F babel.cfg -k lazy_gettext -k _ --project=CountyDesk \\
        --copyright-holder="CountyDesk contributors" -o app/translations/messages.pot .
    .venv/bin/pybabel update -i app/translations/messages.pot -d app/translations -D messages
    # translate every empty or '#, fuzzy' entry in app/translations/en/LC_MESSAGES/messages.po, then:
    .venv/bin/pybabel compile -d app/translations -D messages --statistics

and commit messages.pot, en/LC_MESSAGES/messages.po and en/LC_MESSAGES/messages.mo together.
"""


# --- run time: the locale switch really changes the language -------------------------------------


def test_landing_page_is_chinese_by_default(demo, client):
    html = login(client, "ss_admin").get("/").get_data(as_text=True)
    assert "角色" in html and "组织机构" in html and "组织与人口" in html
    assert "注销" in html  # FAB's own string, from FAB's zh catalog
    assert "Org units" not in html and "Role</th>" not in html


def test_landing_page_is_english_after_switching_language(demo, client):
    login(client, "ss_admin")
    assert client.get("/lang/en").status_code == 302
    html = client.get("/").get_data(as_text=True)
    assert "Welcome, " in html and "Role</th>" in html and "Data-entry scope" in html
    assert "Org units" in html and "Orgs and population" in html and "view and enter data" in html
    assert "Logout" in html  # FAB's English msgid
    for chinese in ("角色", "组织机构", "组织与人口", "查看与录入", "注销"):
        assert chinese not in html, chinese


def test_switching_back_to_chinese(demo, client):
    login(client, "ss_town")
    client.get("/lang/en")
    assert "Role</th>" in client.get("/").get_data(as_text=True)
    client.get("/lang/zh")
    html = client.get("/").get_data(as_text=True)
    assert "角色" in html and "Role</th>" not in html


def test_runtime_translated_labels_follow_the_language(demo, client):
    """``POPULATION_LABELS`` values are translated where shown (``_(value)``), not where defined."""
    login(client, "ss_admin")
    zh = client.get("/populationfactview/list/").get_data(as_text=True)
    assert "计生常住人口" in zh and "已婚育龄妇女" in zh
    client.get("/lang/en")
    en = client.get("/populationfactview/list/").get_data(as_text=True)
    assert "Resident FP population" in en and "Married women of child-bearing age" in en
    assert "计生常住人口" not in en


def test_request_argument_selects_language_for_one_request(demo, client):
    login(client, "fj_viewer")
    assert "只读" in client.get("/").get_data(as_text=True)
    html = client.get("/?_l_=en").get_data(as_text=True)
    assert "Role</th>" in html and "Read-only" in html and "(current)" in html


# --- meta: the committed catalogs are complete and compiled ---------------------------------------


def _extract() -> dict[str, list[str]]:
    """msgid -> where it occurs, extracted the way ``pybabel extract -F babel.cfg`` does."""
    with BABEL_CFG.open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh, str(BABEL_CFG))
    keywords = {**DEFAULT_KEYWORDS, **parse_keywords(KEYWORDS)}
    found: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        ROOT, method_map, options_map, keywords=keywords
    ):
        msgid = message[0] if isinstance(message, (list, tuple)) else message
        if msgid:
            found.setdefault(msgid, []).append(f"{filename}:{lineno}")
    return found


def _read_po(path: Path) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh)


def _messages(catalog: Catalog) -> set[tuple[Any, Any, Any]]:
    return {(m.id, m.string, m.context) for m in catalog if m.id}


def _single_id(msgid: Any) -> str:
    return msgid[0] if isinstance(msgid, (list, tuple)) else msgid


def test_extraction_finds_the_ui_strings():
    """Guards the meta-tests themselves: an extractor that found nothing would pass them all."""
    found = _extract()
    for msgid in ("组织机构", "角色", "全省概览", "县管理员", "计生常住人口"):
        assert msgid in found, f"{msgid!r} was not extracted; check babel.cfg"


def test_every_chinese_msgid_has_an_english_translation():
    found = {msgid: where for msgid, where in _extract().items() if CJK.search(msgid)}
    catalog = _read_po(EN_PO)
    problems = []
    for msgid, where in sorted(found.items()):
        message = catalog.get(msgid)
        strings = [] if message is None else (
            list(message.string) if isinstance(message.string, (list, tuple)) else [message.string])
        if message is None:
            problem = "missing from the .po"
        elif message.fuzzy:
            problem = "marked fuzzy (not compiled)"
        elif not all(s and s.strip() for s in strings):
            problem = "empty translation"
        elif any(CJK.search(s) for s in strings):
            problem = "translation still contains Chinese"
        else:
            continue
        problems.append(f"  {msgid!r} ({', '.join(where[:2])}): {problem}")
    assert not problems, (f"{len(problems)} UI string(s) without a usable English translation in "
                          f"{EN_PO.relative_to(ROOT)}:\n" + "\n".join(problems) + "\n" + HOW_TO_FIX)


def test_committed_template_matches_the_source():
    extracted = set(_extract())
    with POT.open("rb") as fh:
        committed = {_single_id(m.id) for m in read_po(fh) if m.id}
    added, removed = sorted(extracted - committed), sorted(committed - extracted)
    assert not added and not removed, (
        f"{POT.relative_to(ROOT)} is out of date (new in source: {added}; gone from source: {removed})."
        + HOW_TO_FIX)


def test_committed_mo_is_compiled_from_the_po():
    buf = io.BytesIO()
    write_mo(buf, _read_po(EN_PO))  # like ``pybabel compile``: fuzzy entries left out
    buf.seek(0)
    fresh = _messages(read_mo(buf))
    with EN_MO.open("rb") as fh:
        committed = _messages(read_mo(fh))
    stale = sorted(str(_single_id(m[0])) for m in fresh ^ committed)
    assert fresh == committed, (
        f"{EN_MO.relative_to(ROOT)} does not match {EN_PO.relative_to(ROOT)} "
        f"(differs for: {', '.join(stale[:10])}{' …' if len(stale) > 10 else ''})." + HOW_TO_FIX)

"""What text the platform accepts, checked the same way on every input path.

Why one module: a control character accepted by one path (an import, the API) later breaks every
export of the county; a full-width digit accepted as a period (``２０２５``) makes a second, phantom
period beside ``2025``. Screens, APIs, imports and loaders all ask the same two questions here.
"""

from __future__ import annotations

import re
import unicodedata

_FULL_WIDTH_DIGITS = {ord("０") + i: ord("0") + i for i in range(10)}
_ALLOWED_CONTROLS = frozenset("\t\n\r")


def find_control_chars(text: str, *, multiline: bool = True) -> str | None:
    """The first character no one can see or type on purpose, as ``U+XXXX``; None when the text is clean.

    Tab and line breaks are allowed where text may span lines (remarks), not in single-line fields.
    Refused: C0/C1 controls and DEL, unpaired surrogates, and the non-characters U+FFFE/U+FFFF.
    """
    for char in text:
        if multiline and char in _ALLOWED_CONTROLS:
            continue
        code = ord(char)
        category = unicodedata.category(char)
        if category in ("Cc", "Cs") or code in (0xFFFE, 0xFFFF):
            return f"U+{code:04X}"
    return None


def ascii_digits(text: str) -> str:
    """Full-width digits (０-９, typed by Chinese input methods) as ASCII; where a number is meant."""
    return text.translate(_FULL_WIDTH_DIGITS)


# -- periods -------------------------------------------------------------------------------------

_YEAR = r"(?:19|2[01])[0-9]{2}"
PERIOD_SHAPES = {"yearly": _YEAR, "monthly": _YEAR + r"-(?:0[1-9]|1[0-2])", "quarterly": _YEAR + r"-Q[1-4]"}
PERIOD_EXAMPLES = {"yearly": "年份，如 2025", "monthly": "年月，如 2025-03", "quarterly": "季度，如 2025-Q1"}


def period_regex(*kinds: str) -> re.Pattern[str]:
    """ASCII digits only and no trailing newline: ``\\d`` and ``$`` let ``２０２５`` and ``"2025\\n"`` through."""
    return re.compile("^(?:" + "|".join(PERIOD_SHAPES[k] for k in kinds) + r")\Z", re.ASCII)


def period_problem(text: object, kinds: tuple[str, ...], label: str = "期间") -> str | None:
    """Why ``text`` is not a period of one of ``kinds`` (Chinese, says what to type); None when it is one."""
    expected = PERIOD_EXAMPLES[kinds[0]] if len(kinds) == 1 else "或".join(
        PERIOD_EXAMPLES[k].replace("，如 ", "（如 ") + "）" for k in kinds)
    if not isinstance(text, str) or not text:
        return f"「{label}」应为{expected}，请填写"
    if text != ascii_digits(text):
        return f"「{label}」含有全角数字，请改为半角数字，如 {ascii_digits(text)[:16]}"
    if not period_regex(*kinds).match(text):
        shown = "".join(c for c in text[:20] if c.isprintable())
        return f"{label}「{shown}」无效，应为{expected}"
    return None


def parse_period(text: object, kinds: tuple[str, ...], label: str = "期间") -> str:
    """The period itself, or ``ValueError`` with the Chinese message of ``period_problem``."""
    problem = period_problem(text, kinds, label)
    if problem is not None:
        raise ValueError(problem)
    return str(text)


# -- text in and out -----------------------------------------------------------------------------

def control_char_message(label: str, code: str) -> str:
    return f"「{label}」含有不可见的控制字符（{code}），请删除后重试"


def spreadsheet_safe(text: str) -> str:
    """Text an xlsx cell may hold: characters openpyxl refuses (C0 controls but tab/newline) become U+FFFD.

    Why replace, not fail: an old database (or another path) may hold such text; an export must still
    come out, with the spot visible, rather than answer 500 for the whole county.
    """
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    return ILLEGAL_CHARACTERS_RE.sub("\ufffd", text)

"""The ordered education levels (DOMAIN §8): 小学 < 初中 < 高中 = 中专 < 大专 < 本科 < 研究生.

Why a module of its own: forms, staffing eligibility and the formula language all compare
education levels and must agree on one order.  Matching is exact (no trimming, no aliases) so
the Python evaluator and the SQL ``CASE`` mapping give identical answers; normalise input when
it is captured.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

EDUCATION_LEVELS: tuple[str, ...] = ("小学", "初中", "高中", "中专", "大专", "本科", "研究生")
"""The levels in ascending order; 高中 and 中专 share a rank."""

EDUCATION_RANKS: Mapping[str, int] = MappingProxyType(
    {"小学": 1, "初中": 2, "高中": 3, "中专": 3, "大专": 4, "本科": 5, "研究生": 6}
)


def education_rank(text: str | None) -> int | None:
    """Rank of a level (1 = 小学 … 6 = 研究生); ``None`` for ``None`` or an unknown text."""
    if text is None:
        return None
    return EDUCATION_RANKS.get(text)


def is_education_level(text: object) -> bool:
    return isinstance(text, str) and text in EDUCATION_RANKS


def education_problem(text: object) -> str | None:
    """The Chinese refusal of a value that is not a level of DOMAIN §8 (None: fine, or left empty).

    Every path that stores an education (screens, API, roster files, imports) asks this, so a value
    such as 大学 can never be stored beside 本科 and silently fail every eligibility comparison.
    """
    if text is None or text == "" or is_education_level(text):
        return None
    return f"学历「{text}」无效，应为 {'、'.join(EDUCATION_LEVELS)} 之一"

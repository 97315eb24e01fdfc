"""Org levels as a county admin may write them: ``village`` or ``村``/``社区``/``居委会``…"""

from __future__ import annotations

from app.orgs.models import ORG_LEVELS

LEVEL_ALIASES = {"县": "county", "市": "county", "区": "county", "县级市": "county", "旗": "county",
                 "镇": "town", "乡": "town", "街道": "town", "苏木": "town",
                 "村": "village", "行政村": "village", "社区": "village", "居委会": "village",
                 "嘎查": "village",
                 "组": "group", "村民小组": "group", "居民小组": "group"}
LEVELS_HINT = "county/town/village/group（或 县/镇/乡/街道/村/社区/组）"


def normalize_level(text: str) -> str:
    """The English level for ``text``; unknown input is returned unchanged (the caller reports it)."""
    text = text.strip()
    lowered = text.lower()
    return lowered if lowered in ORG_LEVELS else LEVEL_ALIASES.get(text, text)

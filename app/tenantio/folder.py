"""Reads and validates a whole tenant folder into a ``Bundle``; collects every problem first.

Nothing here touches the database: a folder with any problem is rejected before the
loader opens a transaction, so a bad folder never changes anything. Every file is checked
even when another one is broken; references into a broken file are not checked, so one
mistake is not reported again on every row that mentions it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.text_rules import ascii_digits, period_regex
from app.orgs.models import POPULATION_FIELDS
from app.tenantio.config_file import read_config
from app.tenantio.orgs_file import ORG_COLUMNS, OrgRow, read_orgs
from app.tenantio.problems import Problems
from app.tenantio.roster_file import ROSTER_COLUMNS, read_roster
from app.tenantio.tables import find_table, read_table

__all__ = ["ORG_COLUMNS", "POP_COLUMNS", "ROSTER_COLUMNS", "Bundle", "OrgRow", "read_folder"]

POP_COLUMNS = ("org_code", "period", *POPULATION_FIELDS)
PERIOD_RE = period_regex("yearly", "monthly")
"""Population periods: ``2025`` or ``2025-03``, ASCII digits (full-width ones are normalised before)."""
NUMBER_RE = re.compile(r"[0-9]+")
MAX_COUNT = 10_000_000
"""More people than any county has: a bigger number is a typo (and would overflow the column)."""


@dataclass
class Bundle:
    config: dict[str, Any]
    orgs: list[OrgRow] = field(default_factory=list)
    """Parents before children."""
    population: list[dict[str, Any]] = field(default_factory=list)
    roster: list[dict[str, Any]] = field(default_factory=list)
    org_file: str = "orgunits.csv"
    """The org file's name as the user wrote it (``orgunits.xlsx``), for problems found while loading."""


def read_folder(folder: Path) -> tuple[Bundle | None, Problems]:
    problems = Problems()
    if not folder.is_dir():
        problems.add(str(folder), None, None, "目录不存在")
        return None, problems
    config = read_config(folder, problems)
    tree = read_orgs(folder, problems)
    codes = tree.codes if tree is not None else None
    population = _read_population(folder, codes, problems)
    positions = {p["code"] for p in config["positions"]} if config is not None else None
    roster = read_roster(folder, codes, positions, problems)
    if problems or config is None or tree is None:
        return None, problems
    return Bundle(config, tree.rows, population, roster, tree.file), problems


def _count(text: str) -> int | None:
    if text == "":
        return None
    text = ascii_digits(text).replace(",", "").replace("，", "")
    if not NUMBER_RE.fullmatch(text):
        raise ValueError
    if len(text) > 9 or int(text) > MAX_COUNT:
        raise OverflowError
    return int(text)


def _read_population(folder: Path, orgs: set[str] | None, problems: Problems) -> list[dict[str, Any]]:
    path = find_table(folder, "population", problems)
    if path is None:
        return []
    table = read_table(path, ("org_code", "period"), problems, optional=POPULATION_FIELDS)
    if table is None:
        return []
    f = table.file
    out: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], int] = {}
    for line, r in table.rows:
        code, period = ascii_digits(r["org_code"]), ascii_digits(r["period"])
        row: dict[str, Any] = {"org_code": code, "period": period, "line": line}
        if orgs is not None and code not in orgs:
            problems.add(f, line, "org_code", f"组织机构代码「{r['org_code']}」不在 orgunits 中")
        if not PERIOD_RE.match(period):
            problems.add(f, line, "period", f"期间「{r['period']}」无效，应为年份 2025 或年月 2025-03")
        key = (code, period)
        if key in seen:
            problems.add(f, line, "period", f"与第{seen[key]}行重复（同一单位、同一期间）")
        seen.setdefault(key, line)
        for name in POPULATION_FIELDS:
            value = r.get(name, "")
            try:
                row[name] = _count(value)
            except OverflowError:
                problems.add(f, line, name, f"「{value[:20]}」超过 {MAX_COUNT}，请核对人口数")
            except ValueError:
                kind = "是负数" if re.fullmatch(r"-[0-9,]+", ascii_digits(value)) else "不是整数"
                problems.add(f, line, name, f"「{value}」{kind}，人口数应为非负整数")
        out.append(row)
    return out

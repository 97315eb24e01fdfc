"""``orgunits.csv``: the org tree, checked as a whole (one county root, levels, parents, cycles)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from app.core.text_rules import ascii_digits, find_control_chars
from app.orgs.models import ORG_LEVEL_LABELS as LABELS
from app.orgs.models import ORG_LEVELS
from app.tenantio.levels import LEVELS_HINT, normalize_level
from app.tenantio.problems import Problems
from app.tenantio.tables import find_table, read_table

ORG_COLUMNS = ("code", "parent_code", "level", "name")
CODE_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
NAME_LIMIT = 128


@dataclass
class OrgRow:
    line: int
    code: str
    parent_code: str | None
    level: str
    name: str
    path: str = ""


@dataclass
class OrgTree:
    rows: list[OrgRow]
    """Valid rows, parents before children (by level, then file order)."""
    codes: set[str]
    """Every code the file names, valid or not: other files may refer to them without a second error."""
    file: str = "orgunits.csv"


def read_orgs(folder: Path, problems: Problems) -> OrgTree | None:
    path = find_table(folder, "orgunits", problems)
    if path is None:
        if not problems.about("orgunits"):
            problems.add("orgunits.csv", None, None, "缺少组织机构文件 orgunits.csv（或 orgunits.xlsx）")
        return None
    table = read_table(path, ORG_COLUMNS, problems)
    if table is None:
        return None
    f = table.file
    rows: dict[str, OrgRow] = {}
    first_line: dict[str, int] = {}
    for line, r in table.rows:
        code, parent, name = ascii_digits(r["code"]), ascii_digits(r["parent_code"]) or None, r["name"]
        level = normalize_level(r["level"])
        if code in first_line:
            problems.add(f, line, "code", f"代码「{code}」重复（第{first_line[code]}行已有）")
            continue
        first_line[code] = line
        ok = True
        if not CODE_RE.fullmatch(code):
            problems.add(f, line, "code", f"代码「{code}」无效（1–32 位字母、数字、-、_）")
            ok = False
        if not name:
            problems.add(f, line, "name", "名称不能为空")
            ok = False
        elif len(name) > NAME_LIMIT or find_control_chars(name, multiline=False):
            problems.add(f, line, "name", f"名称超过 {NAME_LIMIT} 个字符或含有换行：请改为一行、改短")
            ok = False
        if level not in ORG_LEVELS:
            problems.add(f, line, "level", f"层级「{r['level']}」无效，应为 {LEVELS_HINT}")
            ok = False
        if ok:
            rows[code] = OrgRow(line, code, parent, level, name)
    _check_links(rows, set(first_line), problems, f)
    return OrgTree(_order_and_paths(rows, problems, f), set(first_line), f)


def _check_links(rows: dict[str, OrgRow], named: set[str], problems: Problems, f: str) -> None:
    roots = [o for o in rows.values() if o.parent_code is None]
    for o in roots:
        if o.level != "county":
            problems.add(f, o.line, "parent_code", "上级代码为空，但只有县级单位可以没有上级")
    counties = [o for o in roots if o.level == "county"]
    if len(counties) > 1:
        for o in counties[1:]:
            problems.add(f, o.line, "parent_code",
                         f"只能有一个县级单位，第{counties[0].line}行已有「{counties[0].name}」")
    elif not counties and set(rows) == named:  # (an invalid row may be the county: reported already)
        problems.add(f, None, None, "没有县级单位（level 为 county、上级代码为空的一行）")
    for o in rows.values():
        if o.parent_code is None:
            continue
        parent = rows.get(o.parent_code)
        if parent is None:
            if o.parent_code not in named:  # a named but invalid parent has its own message
                problems.add(f, o.line, "parent_code", f"上级代码「{o.parent_code}」不存在")
        elif ORG_LEVELS.index(parent.level) + 1 != ORG_LEVELS.index(o.level):
            problems.add(f, o.line, "level", f"{LABELS[o.level]}不能直接隶属于{LABELS[parent.level]}"
                                             f"「{parent.name}」（上级应高一级）")


def _order_and_paths(rows: dict[str, OrgRow], problems: Problems, f: str) -> list[OrgRow]:
    """Parents first, with paths. Units that never reach the county are either under a unit
    with its own problem (not reported again) or on a cycle (each unit of the cycle reported)."""
    children: dict[str | None, list[OrgRow]] = {}
    for o in rows.values():
        children.setdefault(o.parent_code, []).append(o)
    reached: set[str] = set()
    stack = [(o, "/") for o in children.get(None, [])]
    while stack:
        unit, parent_path = stack.pop()
        unit.path = f"{parent_path}{unit.code}/"
        reached.add(unit.code)
        stack.extend((c, unit.path) for c in children.get(unit.code, []))
    on_cycle: set[str] = set()
    for o in rows.values():
        cycle = _cycle_from(rows, o) if o.code not in reached else None
        for code in cycle or []:
            if code not in on_cycle:
                on_cycle.add(code)
                chain = _rotate(cycle or [], code)
                problems.add(f, rows[code].line, "parent_code",
                             f"上级链形成环（{'→'.join([*chain, code])}），无法连到县级单位")
    ordered = [o for o in rows.values() if o.code in reached]
    ordered.sort(key=lambda o: (ORG_LEVELS.index(o.level), o.line))
    return ordered


def _cycle_from(rows: dict[str, OrgRow], start: OrgRow) -> list[str] | None:
    """The codes of the cycle above ``start`` (going up through parents), or None."""
    seen: list[str] = []
    unit: OrgRow | None = start
    while unit is not None and unit.code not in seen:
        seen.append(unit.code)
        unit = rows.get(unit.parent_code) if unit.parent_code else None
    return seen[seen.index(unit.code):] if unit is not None else None


def _rotate(cycle: list[str], first: str) -> list[str]:
    """``cycle`` (child → parent order) starting at ``first``."""
    i = cycle.index(first)
    return cycle[i:] + cycle[:i]

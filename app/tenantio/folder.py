"""Reads and validates a whole tenant folder into a ``Bundle``; collects every problem first.

Nothing here touches the database: a folder with any problem is rejected before the
loader opens a transaction, so a bad folder never changes anything.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.idcard import IdNumberError, parse_id_number
from app.orgs.models import ORG_LEVELS, POPULATION_FIELDS
from app.staffing.models import APPOINTMENT_STATUSES, EDUCATION_CHOICES
from app.tenantio.config_file import read_config
from app.tenantio.problems import Problems
from app.tenantio.tables import find_table, read_table

ORG_COLUMNS = ("code", "parent_code", "level", "name")
POP_COLUMNS = ("org_code", "period", *POPULATION_FIELDS)
ROSTER_COLUMNS = ("id_number", "name", "education", "phone", "bank_card", "position_code", "org_code",
                  "start", "end", "status")
PERIOD_RE = re.compile(r"^\d{4}(-(0[1-9]|1[0-2]))?$")
LEVEL_ALIASES = {"县": "county", "市": "county", "区": "county", "镇": "town", "乡": "town", "街道": "town",
                 "村": "village", "社区": "village", "居委会": "village", "组": "group", "村民小组": "group",
                 "居民小组": "group"}


@dataclass
class OrgRow:
    line: int
    code: str
    parent_code: str | None
    level: str
    name: str
    path: str = ""


@dataclass
class Bundle:
    config: dict[str, Any]
    orgs: list[OrgRow] = field(default_factory=list)
    """Parents before children."""
    population: list[dict[str, Any]] = field(default_factory=list)
    roster: list[dict[str, Any]] = field(default_factory=list)


def read_folder(folder: Path) -> tuple[Bundle | None, Problems]:
    problems = Problems()
    config = read_config(folder, problems)
    orgs = _read_orgs(folder, problems)
    codes = {o.code: o for o in orgs} if orgs else {}
    population = _read_population(folder, codes, problems) if orgs is not None else []
    positions = {p["code"]: p for p in (config or {}).get("positions", [])}
    roster = _read_roster(folder, codes, positions, problems) if orgs is not None else []
    if problems or config is None or orgs is None:
        return None, problems
    return Bundle(config, orgs, population, roster), problems


def _read_orgs(folder: Path, problems: Problems) -> list[OrgRow] | None:
    path = find_table(folder, "orgunits")
    if path is None:
        problems.add("orgunits.csv", None, None, "缺少组织机构文件 orgunits.csv（或 .xlsx）")
        return None
    table = read_table(path, ORG_COLUMNS, problems)
    if table is None:
        return None
    rows: dict[str, OrgRow] = {}
    f = table.file
    for line, r in table.rows:
        code, parent, name = r["code"], r["parent_code"] or None, r["name"]
        level = LEVEL_ALIASES.get(r["level"], r["level"])
        ok = True
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", code):
            problems.add(f, line, "code", f"代码「{code}」无效（1–32 位字母、数字、-、_）")
            ok = False
        if not name:
            problems.add(f, line, "name", "名称不能为空")
            ok = False
        if level not in ORG_LEVELS:
            problems.add(f, line, "level", f"层级「{r['level']}」无效，应为 county/town/village/group")
            ok = False
        if code in rows:
            problems.add(f, line, "code", f"代码「{code}」重复（第{rows[code].line}行已有）")
            continue
        if ok:
            rows[code] = OrgRow(line, code, parent, level, name)
    roots = [o for o in rows.values() if o.parent_code is None]
    for o in roots:
        if o.level != "county":
            problems.add(f, o.line, "parent_code", "只有县级单位可以没有上级代码")
    if len([o for o in roots if o.level == "county"]) != 1 and rows:
        problems.add(f, None, None, f"应当恰好有一个县级单位（没有上级代码），现有 {len(roots)} 个")
    for o in rows.values():
        if o.parent_code is None:
            continue
        parent = rows.get(o.parent_code)
        if parent is None:
            problems.add(f, o.line, "parent_code", f"上级代码「{o.parent_code}」不存在")
        elif ORG_LEVELS.index(parent.level) + 1 != ORG_LEVELS.index(o.level):
            problems.add(f, o.line, "level", f"层级 {o.level} 不能直接隶属于 {parent.level}「{parent.name}」")
    ordered = _order_and_paths(rows, problems, f)
    return ordered


def _order_and_paths(rows: dict[str, OrgRow], problems: Problems, f: str) -> list[OrgRow]:
    """Parents first; a unit that never reaches the root lies on a cycle (or under one)."""
    children: dict[str | None, list[OrgRow]] = {}
    for o in rows.values():
        children.setdefault(o.parent_code, []).append(o)
    ordered: list[OrgRow] = []
    stack = [(o, "/") for o in children.get(None, [])]
    while stack:
        unit, parent_path = stack.pop()
        unit.path = f"{parent_path}{unit.code}/"
        ordered.append(unit)
        stack.extend((c, unit.path) for c in reversed(children.get(unit.code, [])))
    reached = {o.code for o in ordered}
    for o in rows.values():
        if o.code not in reached and o.parent_code in rows:
            problems.add(f, o.line, "parent_code", f"「{o.code}」的上级链形成环，无法连到县级单位")
    ordered.sort(key=lambda o: (ORG_LEVELS.index(o.level), o.line))
    return ordered


def _nonneg_int(text: str) -> int | None:
    if text == "":
        return None
    if not re.fullmatch(r"\d+", text.replace(",", "")):
        raise ValueError
    return int(text.replace(",", ""))


def _read_population(folder: Path, orgs: dict[str, OrgRow], problems: Problems) -> list[dict[str, Any]]:
    path = find_table(folder, "population")
    if path is None:
        return []
    table = read_table(path, ("org_code", "period"), problems, optional=POPULATION_FIELDS)
    if table is None:
        return []
    out: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], int] = {}
    for line, r in table.rows:
        row: dict[str, Any] = {"org_code": r["org_code"], "period": r["period"], "line": line}
        if r["org_code"] not in orgs:
            problems.add(table.file, line, "org_code", f"组织机构代码「{r['org_code']}」不在 orgunits 中")
        if not PERIOD_RE.match(r["period"]):
            problems.add(table.file, line, "period", f"期间「{r['period']}」无效，应为 2025 或 2025-03")
        key = (r["org_code"], r["period"])
        if key in seen:
            problems.add(table.file, line, "period", f"与第{seen[key]}行重复（同一单位同一期间）")
        seen[key] = line
        for name in POPULATION_FIELDS:
            try:
                row[name] = _nonneg_int(r.get(name, ""))
            except ValueError:
                problems.add(table.file, line, name, f"「{r[name]}」不是非负整数")
        out.append(row)
    return out


def _date(text: str) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def _read_roster(folder: Path, orgs: dict[str, OrgRow], positions: dict[str, Any],
                 problems: Problems) -> list[dict[str, Any]]:
    path = find_table(folder, "roster")
    if path is None:
        return []
    table = read_table(path, ROSTER_COLUMNS, problems)
    if table is None:
        return []
    f = table.file
    out: list[dict[str, Any]] = []
    names: dict[str, tuple[str, int]] = {}
    seen: dict[tuple[str, str, str], int] = {}
    for line, r in table.rows:
        row: dict[str, Any] = dict(r, line=line)
        try:
            row["id_number"] = parse_id_number(r["id_number"]).number
        except IdNumberError as exc:
            problems.add(f, line, "id_number", str(exc))
        if not r["name"]:
            problems.add(f, line, "name", "姓名不能为空")
        prior = names.get(row["id_number"])
        if prior and prior[0] != r["name"]:
            problems.add(f, line, "name", f"同一身份证号在第{prior[1]}行的姓名是「{prior[0]}」")
        names.setdefault(row["id_number"], (r["name"], line))
        if r["education"] and r["education"] not in EDUCATION_CHOICES:
            problems.add(f, line, "education", f"学历「{r['education']}」无效，应为 {'、'.join(EDUCATION_CHOICES)}")
        if r["position_code"] not in positions:
            problems.add(f, line, "position_code", f"岗位代码「{r['position_code']}」未在 tenant.yaml 中定义")
        if r["org_code"] not in orgs:
            problems.add(f, line, "org_code", f"组织机构代码「{r['org_code']}」不在 orgunits 中")
        for col in ("start", "end"):
            try:
                row[col] = _date(r[col])
            except ValueError:
                problems.add(f, line, col, f"日期「{r[col]}」无效，应为 2025-01-31 格式")
                row[col] = None
        if not r["start"]:
            problems.add(f, line, "start", "聘期开始日期不能为空")
        if row["start"] and row["end"] and row["end"] < row["start"]:
            problems.add(f, line, "end", "聘期结束早于开始")
        status = r["status"] or "active"
        if status not in APPOINTMENT_STATUSES:
            problems.add(f, line, "status", f"状态「{status}」无效，应为 {'/'.join(APPOINTMENT_STATUSES)}")
        row["status"] = status
        key = (row["id_number"], r["position_code"], r["start"])
        if key in seen:
            problems.add(f, line, "id_number", f"与第{seen[key]}行重复（同一人同一岗位同一开始日期）")
        seen[key] = line
        out.append(row)
    return out

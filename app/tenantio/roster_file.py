"""``roster.csv``: one row per appointment; the person's details repeat on each of their rows."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from app.core.idcard import IdNumberError, parse_id_number
from app.core.text_rules import ascii_digits, find_control_chars
from app.formulas.education import education_problem
from app.staffing.models import APPOINTMENT_STATUSES
from app.tenantio.problems import Problems
from app.tenantio.tables import Table, find_table, read_table

ROSTER_COLUMNS = ("id_number", "name", "education", "phone", "bank_card", "position_code", "org_code",
                  "start", "end", "status")
DATE_RE = re.compile(r"([0-9]{4})[-/.年]([0-9]{1,2})[-/.月]([0-9]{1,2})日?")
LIMITS = {"name": 64, "phone": 20, "bank_card": 32}
"""The columns' lengths in the database: a longer value is a row problem here, not a database error."""


def parse_date(text: str) -> dt.date | None:
    """``2025-01-31``; also ``2025/1/31`` and ``2025年1月31日`` as Excel and people write them."""
    if not text:
        return None
    text = ascii_digits(text)
    if len(text) == 10 and text[4] == text[7] == "-":
        return dt.date.fromisoformat(text)
    match = DATE_RE.fullmatch(text)
    if match is None:
        raise ValueError(text)
    return dt.date(*(int(g) for g in match.groups()))


def read_roster(folder: Path, orgs: set[str] | None, positions: set[str] | None,
                problems: Problems) -> list[dict[str, Any]]:
    """``orgs``/``positions`` None: that file has problems of its own, so references are not checked."""
    path = find_table(folder, "roster", problems)
    if path is None:
        return []
    table = read_table(path, ROSTER_COLUMNS, problems)
    if table is None:
        return []
    out: list[dict[str, Any]] = []
    names: dict[str, tuple[str, int]] = {}
    seen: dict[tuple[str, str, dt.date | None], int] = {}
    for line, r in table.rows:
        row = _check_row(table, line, r, orgs, positions, problems)
        number = row["id_number"]
        prior = names.get(number)
        if prior and prior[0] != r["name"]:
            problems.add(table.file, line, "name", f"同一身份证号在第{prior[1]}行的姓名是「{prior[0]}」")
        names.setdefault(number, (r["name"], line))
        key = (number, r["position_code"], row["start"])
        if key in seen:
            problems.add(table.file, line, "id_number",
                         f"与第{seen[key]}行重复（同一人、同一岗位、同一开始日期）")
        seen.setdefault(key, line)
        out.append(row)
    return out


def _check_row(table: Table, line: int, r: dict[str, str], orgs: set[str] | None,
               positions: set[str] | None, problems: Problems) -> dict[str, Any]:
    f = table.file
    r = dict(r, org_code=ascii_digits(r["org_code"]))  # a code typed with a Chinese input method
    row: dict[str, Any] = dict(r, line=line, info=None)
    for col in ("id_number", "bank_card"):
        if (line, col) in table.long_numbers:
            problems.add(f, line, col, "在表格中被存成了数字，末几位已丢失；请把该列设为“文本”格式后重新填写")
    try:
        row["info"] = parse_id_number(r["id_number"])
        row["id_number"] = row["info"].number
    except IdNumberError as exc:
        if (line, "id_number") not in table.long_numbers:
            problems.add(f, line, "id_number", exc.message)
    if not r["name"]:
        problems.add(f, line, "name", "姓名不能为空")
    elif bad := find_control_chars(r["name"], multiline=False):
        problems.add(f, line, "name", f"姓名含有换行或控制字符 {bad}：请删除")
    for col, limit in LIMITS.items():
        if len(r[col]) > limit:
            problems.add(f, line, col, f"长度 {len(r[col])} 超过 {limit} 个字符：请改短")
    if bad_education := education_problem(r["education"]):
        problems.add(f, line, "education", bad_education)
    if positions is not None and r["position_code"] not in positions:
        problems.add(f, line, "position_code",
                     f"岗位代码「{r['position_code']}」未在 tenant.yaml 的 positions 中定义")
    if orgs is not None and r["org_code"] not in orgs:
        problems.add(f, line, "org_code", f"组织机构代码「{r['org_code']}」不在 orgunits 中")
    for col in ("start", "end"):
        try:
            row[col] = parse_date(r[col])
        except ValueError:
            problems.add(f, line, col, f"日期「{r[col]}」无效，应为 2025-01-31 格式")
            row[col] = None
    if not r["start"]:
        problems.add(f, line, "start", "聘期开始日期不能为空")
    if row["start"] and row["end"] and row["end"] < row["start"]:
        problems.add(f, line, "end", "聘期结束早于开始")
    row["status"] = r["status"] or "active"
    if row["status"] not in APPOINTMENT_STATUSES:
        problems.add(f, line, "status", f"状态「{row['status']}」无效，应为 {'/'.join(APPOINTMENT_STATUSES)}")
    return row


def primary_rows(roster: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each person's primary row, whose name, contacts and org unit the person record takes.

    Active appointments first, then the latest start, then the org code: chosen from the set of
    rows, not their order, so an exported folder (sorted differently) loads back unchanged.
    """
    best: dict[str, dict[str, Any]] = {}
    for r in roster:
        current = best.get(r["id_number"])
        if current is None or _rank(r) > _rank(current):
            best[r["id_number"]] = r
    return best


def _rank(r: dict[str, Any]) -> tuple[bool, dt.date, str]:
    return (r["status"] == "active", r["start"], r["org_code"])

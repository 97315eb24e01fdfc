"""Reads a data table from CSV (UTF-8, or GBK as older Excel saves it) or XLSX, keeping line numbers.

Every file that comes in goes through here (tenant folders, the import screens, the CLI), so the
limits live here once: a strict encoding (never a guess that turns names into mojibake), a cap on
rows and columns, an xlsx archive checked before openpyxl inflates it, formula cells that Excel never
calculated, and control characters (reported per cell in ``Table.problems``).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path
from typing import IO, Any

from app.core.encodings import CHUNK, read_chunks, sniff_codec
from app.core.text_rules import find_control_chars
from app.tenantio.problems import Problems

EXTENSIONS = (".csv", ".xlsx")
DEFAULT_MAX_ROWS = 200_000
MAX_COLUMNS = 500
MAX_XLSX_MEMBERS = 1000
MAX_XLSX_UNCOMPRESSED = 256 * 1024 * 1024
MAX_XLSX_RATIO = 100
"""Excel's own XML compresses 5–30 times; a member inflating more than this is built to exhaust memory."""
_FORMULA_TAG = re.compile(rb"<(?:\w+:)?f[\s>/]")
_EXCEL_ERRORS = frozenset({"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA"})


@dataclass
class Table:
    file: str
    header: list[str]
    rows: list[tuple[int, dict[str, str]]]
    """(line number as the user sees it, values by column)."""
    long_numbers: set[tuple[int, str]] = field(default_factory=set)
    """(line, column) of xlsx cells stored as numbers too long for Excel to keep every digit."""
    problems: list[tuple[int, str | None, str]] = field(default_factory=list)
    """(line, column, why) of cells no handler may take as they are (control characters, data beyond
    the header); the caller reports them with its own problems, so one file lists everything at once."""


def max_rows() -> int:
    """``COUNTYDESK_MAX_IMPORT_ROWS`` (default 200,000): a bigger file is refused, not half read."""
    from flask import current_app, has_app_context

    if has_app_context():
        return int(current_app.config.get("COUNTYDESK_MAX_IMPORT_ROWS") or DEFAULT_MAX_ROWS)
    return DEFAULT_MAX_ROWS


def find_table(folder: Path, stem: str, problems: Problems) -> Path | None:
    """``stem.csv`` or ``stem.xlsx``; both at once, or an old ``.xls``, is a problem."""
    found = [folder / f"{stem}{ext}" for ext in EXTENSIONS if (folder / f"{stem}{ext}").exists()]
    if len(found) > 1:
        problems.add(found[1].name, None, None, f"与 {found[0].name} 同时存在，请只保留一个")
        return None
    if not found and (folder / f"{stem}.xls").exists():
        problems.add(f"{stem}.xls", None, None, "不支持旧版 .xls 文件，请在 Excel 中另存为 .xlsx 或 CSV")
        return None
    return found[0] if found else None


def read_table(path: Path, required: tuple[str, ...], problems: Problems,
               optional: tuple[str, ...] = ()) -> Table | None:
    """Returns None (with problems recorded) when the file cannot be read or lacks columns."""
    name = path.name
    try:
        table = load_table(path)
    except (OSError, ValueError, KeyError, csv.Error) as exc:
        problems.add(name, None, None, f"无法读取文件：{exc}")
        return None
    for line, column, why in table.problems:
        problems.add(name, line, column, why)
    missing = [c for c in required if c not in table.header]
    for col in missing:
        problems.add(name, 1, col, f"缺少必填列「{col}」（第1行应为列名：{','.join(required)}）")
    if missing:
        return None
    for col in table.header:
        if col and col not in required and col not in optional:
            problems.add(name, 1, col, "未知列（请检查列名拼写）")
    for col in sorted({c for c in table.header if c and table.header.count(c) > 1}):
        problems.add(name, 1, col, "列名重复：只能保留一列（否则后一列会覆盖前一列）")
    return table


def load_table(path: Path, encoding: str | None = None) -> Table:
    """The file's header and rows, columns unchecked (uploads check them against their own handler).

    ValueError (a Chinese sentence) when the file cannot be read as a whole: encoding, size, archive.
    """
    if path.suffix.lower() == ".xlsx":
        return _read_xlsx(path)
    return _read_csv(path, encoding)


# -- rows, whatever the format ----------------------------------------------------------------------


class _Collector:
    """Builds a Table row by row with the same checks for CSV and XLSX."""

    def __init__(self, name: str) -> None:
        self.table = Table(name, [], [])
        self.limit = max_rows()

    def header(self, cells: list[str]) -> None:
        if len(cells) > MAX_COLUMNS:
            raise ValueError(f"第1行有 {len(cells)} 列，超过 {MAX_COLUMNS} 列：请删除多余的列后重试")
        for index, cell in enumerate(cells):
            bad = find_control_chars(cell, multiline=False)
            if bad:
                self.table.problems.append((1, cell or f"第{index + 1}列", f"列名含有控制字符 {bad}：请删除后重新保存"))
        self.table.header = cells

    def row(self, line: int, cells: list[str]) -> None:
        table = self.table
        if len(table.rows) >= self.limit:
            raise ValueError(f"数据超过 {self.limit} 行：请拆分成多个文件分批导入")
        width = len(table.header)
        if any(cells[width:]):
            table.problems.append((line, None, f"有 {len(cells) - width} 个单元格超出表头范围（第1行没有对应的列名）："
                                               "请补上列名或删除这些单元格"))
        values = {h: (cells[i] if i < len(cells) else "") for i, h in enumerate(table.header)}
        for column, value in values.items():
            bad = find_control_chars(value) if value else None
            if bad:
                table.problems.append((line, column, f"含有不可见的控制字符 {bad}：请删除后重新保存"))
        table.rows.append((line, values))


def _read_csv(path: Path, encoding: str | None = None) -> Table:
    codec = sniff_codec(path, encoding)
    out = _Collector(path.name)
    with path.open("r", encoding=codec, newline="") as stream:
        reader = csv.reader(stream)
        try:
            for record in reader:  # the first non-blank line holds the column names
                if any(h.strip() for h in record):
                    out.header([h.strip() for h in record])
                    break
            start = reader.line_num + 1
            for record in reader:  # a quoted line break spans lines: the row is where it starts
                cells = [cell.strip() for cell in record]
                if any(cells):
                    out.row(start, cells)
                start = reader.line_num + 1
        except csv.Error:
            raise ValueError(f"第{reader.line_num}行无法解析（引号不成对或单元格过长）：请检查该行后重新保存") from None
    return out.table


def check_xlsx_archive(source: Path | IO[bytes]) -> None:
    """Refuse a zip that would inflate to more than the limits, before anything decompresses it.

    The sizes are the archive's own declarations; Python's zipfile never inflates a member past its
    declared size, so checking them bounds what openpyxl can be made to read.
    """
    try:
        with zipfile.ZipFile(source) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile as exc:
        raise ValueError("不是有效的 xlsx 文件（请在 Excel 中另存为 .xlsx，或改用 CSV）") from exc
    if len(members) > MAX_XLSX_MEMBERS:
        raise ValueError(f"xlsx 文件内含 {len(members)} 个部件，不像 Excel 保存的工作簿："
                         "请在 Excel 中另存为 .xlsx 后重试")
    total = sum(m.file_size for m in members)
    if total > MAX_XLSX_UNCOMPRESSED:
        raise ValueError(f"xlsx 文件解压后超过 {MAX_XLSX_UNCOMPRESSED >> 20} MB：请拆分成多个文件分批导入")
    for m in members:
        if m.file_size > CHUNK and m.file_size > MAX_XLSX_RATIO * max(m.compress_size, 1):
            raise ValueError(f"xlsx 文件的部件 {m.filename} 压缩比异常（疑似压缩炸弹）：请在 Excel 中重新保存后再导入")


def _read_xlsx(path: Path) -> Table:
    from openpyxl import load_workbook

    check_xlsx_archive(path)
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a non-xlsx file
        raise ValueError("不是有效的 xlsx 文件（请在 Excel 中另存为 .xlsx，或改用 CSV）") from exc
    formulas = None
    try:
        if not book.worksheets:
            raise ValueError("工作簿中没有工作表：请把数据放在第一个工作表中")
        sheet = book.worksheets[0]
        if _has_formulas(path, getattr(sheet, "_worksheet_path", "")):
            formulas = load_workbook(path, read_only=True, data_only=False)
            rows = _cached_values(sheet.iter_rows(values_only=True),
                                  formulas.worksheets[0].iter_rows(values_only=True))
        else:
            rows = sheet.iter_rows(values_only=True)
        return _sheet_table(path.name, rows)
    finally:
        book.close()
        if formulas is not None:
            formulas.close()


def _has_formulas(path: Path, member: str) -> bool:
    """Whether the sheet's XML has any ``<f>`` element (a cheap scan: most files have none)."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open(member.lstrip("/")) as stream:
            tail = b""
            for chunk in read_chunks(stream):
                if _FORMULA_TAG.search(tail + chunk):
                    return True
                tail = chunk[-16:]
    except (KeyError, zipfile.BadZipFile):
        return True  # not found where expected: compare with the formulas to be safe
    return False


def _cached_values(values: Iterable[tuple[Any, ...]], formulas: Iterable[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """The cached values, refusing a formula Excel never calculated (openpyxl gives None) or an error."""
    from openpyxl.utils import get_column_letter

    for number, (row, source) in enumerate(zip_longest(values, formulas, fillvalue=()), start=1):
        for index, (value, formula) in enumerate(zip_longest(row, source)):
            if not ((isinstance(formula, str) and formula.startswith("=")) or type(formula).__name__ == "ArrayFormula"):
                continue
            cell = f"{get_column_letter(index + 1)}{number}"
            if value is None:
                raise ValueError(f"单元格 {cell}（第{number}行第{index + 1}列）是没有计算结果的公式：请在 Excel/WPS 中"
                                 "打开并保存一次，或把公式粘贴为数值")
            if isinstance(value, str) and value in _EXCEL_ERRORS:
                raise ValueError(f"单元格 {cell}（第{number}行第{index + 1}列）的公式结果是错误 {value}："
                                 "请改正公式或填写数值")
        yield row


def _sheet_table(name: str, sheet_rows: Iterable[tuple[Any, ...]]) -> Table:
    out = _Collector(name)
    table = out.table
    for number, values in enumerate(sheet_rows, start=1):
        cells = ["" if v is None else _cell_text(v).strip() for v in values]
        if not table.header:
            if any(cells):
                out.header(_trim(cells))
            continue
        if not any(cells):
            continue
        out.row(number, cells)
        for column, v in zip(table.header, values, strict=False):
            if isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) >= 1e15:
                table.long_numbers.add((number, column))
    return table


def _trim(cells: list[str]) -> list[str]:
    """A header without the empty cells Excel keeps after the last column (a formatted but empty column)."""
    while cells and not cells[-1]:
        cells.pop()
    return cells


def _cell_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)

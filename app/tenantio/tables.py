"""Reads a data table from CSV (UTF-8 or GBK, as Excel saves it) or XLSX, keeping line numbers."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.tenantio.problems import Problems

EXTENSIONS = (".csv", ".xlsx")


@dataclass
class Table:
    file: str
    header: list[str]
    rows: list[tuple[int, dict[str, str]]]
    """(line number as the user sees it, values by column)."""
    long_numbers: set[tuple[int, str]] = field(default_factory=set)
    """(line, column) of xlsx cells stored as numbers too long for Excel to keep every digit."""


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
    missing = [c for c in required if c not in table.header]
    for col in missing:
        problems.add(name, 1, col, f"缺少必填列「{col}」（第1行应为列名：{','.join(required)}）")
    if missing:
        return None
    for col in table.header:
        if col and col not in required and col not in optional:
            problems.add(name, 1, col, "未知列（请检查列名拼写）")
    return table


def load_table(path: Path) -> Table:
    """The file's header and rows, columns unchecked (uploads check them against their own handler)."""
    return _read_xlsx(path) if path.suffix.lower() == ".xlsx" else _read_csv(path)


def decode_text(raw: bytes) -> str:
    """UTF-8 (with or without BOM) or GBK/GB18030, as Chinese editors and Excel save files."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValueError("文件编码无法识别（请保存为 UTF-8 或 GBK 编码）")


def _read_csv(path: Path) -> Table:
    reader = csv.reader(io.StringIO(decode_text(path.read_bytes()), newline=""))
    header: list[str] = []
    for record in reader:  # the first non-blank line holds the column names
        header = [h.strip() for h in record]
        if any(header):
            break
    width = len(header)
    rows: list[tuple[int, dict[str, str]]] = []
    for record in reader:
        cells = [cell.strip() for cell in record]
        if not any(cells):
            continue
        if len(cells) < width:
            cells += [""] * (width - len(cells))
        rows.append((reader.line_num, dict(zip(header, cells, strict=False))))
    return Table(path.name, header, rows)


def _read_xlsx(path: Path) -> Table:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a non-xlsx file
        raise ValueError("不是有效的 xlsx 文件（请在 Excel 中另存为 .xlsx，或改用 CSV）") from exc
    try:
        return _sheet_table(path.name, book.worksheets[0].iter_rows(values_only=True))
    finally:
        book.close()


def _sheet_table(name: str, sheet_rows: Iterable[tuple[Any, ...]]) -> Table:
    table = Table(name, [], [])
    for number, values in enumerate(sheet_rows, start=1):
        cells = ["" if v is None else _cell_text(v).strip() for v in values]
        if not table.header:
            table.header = cells
            continue
        if not any(cells):
            continue
        table.rows.append((number, {h: (cells[i] if i < len(cells) else "")
                                    for i, h in enumerate(table.header)}))
        for column, v in zip(table.header, values, strict=False):
            if isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) >= 1e15:
                table.long_numbers.add((number, column))
    return table


def _cell_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)

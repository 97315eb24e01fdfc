"""Reads a data table from CSV (UTF-8 or GBK, as Excel saves it) or XLSX, keeping line numbers."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from app.tenantio.problems import Problems


@dataclass
class Table:
    file: str
    header: list[str]
    rows: list[tuple[int, dict[str, str]]]
    """(line number as the user sees it, values by column)."""


def find_table(folder: Path, stem: str) -> Path | None:
    for ext in (".csv", ".xlsx"):
        path = folder / f"{stem}{ext}"
        if path.exists():
            return path
    return None


def read_table(path: Path, required: tuple[str, ...], problems: Problems,
               optional: tuple[str, ...] = ()) -> Table | None:
    """Returns None (with problems recorded) when the file cannot be read or lacks columns."""
    name = path.name
    try:
        header, rows = _read_xlsx(path) if path.suffix.lower() == ".xlsx" else _read_csv(path)
    except (OSError, ValueError, KeyError) as exc:
        problems.add(name, None, None, f"无法读取文件：{exc}")
        return None
    missing = [c for c in required if c not in header]
    if missing:
        problems.add(name, 1, None, f"缺少列：{'、'.join(missing)}（应有：{','.join(required)}）")
        return None
    unknown = [c for c in header if c and c not in required and c not in optional]
    for col in unknown:
        problems.add(name, 1, col, "未知列（请检查列名拼写）")
    return Table(name, header, rows)


def _decode(raw: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValueError("文件编码无法识别（请保存为 UTF-8 或 GBK 编码的 CSV）")


def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    reader = csv.reader(io.StringIO(_decode(path.read_bytes()), newline=""))
    header: list[str] = []
    rows: list[tuple[int, dict[str, str]]] = []
    for record in reader:
        if not header:
            header = [h.strip() for h in record]
            continue
        if not any(cell.strip() for cell in record):
            continue
        rows.append((reader.line_num, {h: (record[i].strip() if i < len(record) else "")
                                       for i, h in enumerate(header)}))
    return header, rows


def _read_xlsx(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a non-xlsx file
        raise ValueError("不是有效的 xlsx 文件") from exc
    sheet = book.worksheets[0]
    header: list[str] = []
    rows: list[tuple[int, dict[str, str]]] = []
    for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
        cells = ["" if v is None else _cell_text(v) for v in values]
        if not header:
            header = [c.strip() for c in cells]
            continue
        if any(cells):
            rows.append((number, {h: (cells[i].strip() if i < len(cells) else "") for i, h in enumerate(header)}))
    book.close()
    return header, rows


def _cell_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "date") and hasattr(value, "isoformat"):
        return value.date().isoformat() if hasattr(value, "hour") else value.isoformat()
    return str(value)

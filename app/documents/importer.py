"""Generic import engine: any table, any form, from an uploaded xlsx/csv, as one background job.

A ``RowHandler`` knows one kind of row (its columns, how to parse and check a row, its natural key,
how to write rows); the engine does the rest the same way for every kind: header check, every row
checked and ALL problems collected (row, column, value, why — in Chinese), duplicates of the natural
key within the file, then either a dry run (nothing committed) or one all-or-nothing transaction.
Writing by natural key makes a re-run of the same file change nothing.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from app.core.errors import CountyDeskError

MAX_PROBLEMS_KEPT = 200
"""Problems kept (and shown); beyond them only the count: a broken big file must not list a million lines."""
MAX_VALUE_SHOWN = 100
PROGRESS_EVERY = 500

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class ImportColumn:
    label: str
    """Chinese column header as it appears in the file (and in the template)."""
    field: str
    required: bool = False
    help: str = ""


@dataclass(frozen=True)
class ImportProblem:
    row: int | None
    """Row number as Excel shows it (1 = header); None for the whole file."""
    column: str | None
    value: str | None
    why: str


@dataclass
class ImportCounts:
    new: int = 0
    changed: int = 0
    unchanged: int = 0


class RowHandler(Protocol):
    """One kind of importable row. ``apply`` flushes at most: the engine commits or rolls back."""

    title: str
    columns: Sequence[ImportColumn]

    def parse(self, row: dict[str, str]) -> tuple[Any | None, list[ImportProblem]]:
        """Values by field code → a clean row, or problems (their ``row`` is filled in by the engine)."""

    def key(self, clean: Any) -> Hashable:
        """Natural key: two rows of a file with the same key are a problem; an existing row is updated."""

    def apply(self, rows: list[Any], session: Session) -> ImportCounts:
        """Insert or update every row by natural key; a row whose data is unchanged changes nothing."""


@dataclass
class ImportResult:
    dry_run: bool
    total_rows: int = 0
    counts: ImportCounts = field(default_factory=ImportCounts)
    problems: list[ImportProblem] = field(default_factory=list)
    """The first ``MAX_PROBLEMS_KEPT``; ``problem_count`` counts them all."""
    committed: bool = False
    problem_count: int = 0

    def add(self, problem: ImportProblem) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            value = problem.value
            if value is not None and len(value) > MAX_VALUE_SHOWN:
                problem = replace(problem, value=value[:MAX_VALUE_SHOWN] + "……")
            self.problems.append(problem)

    @property
    def ok(self) -> bool:
        return not self.problem_count

    @property
    def unlisted(self) -> int:
        return self.problem_count - len(self.problems)

    @property
    def message(self) -> str:
        c = self.counts
        figures = f"新增 {c.new} 行，修改 {c.changed} 行，未变 {c.unchanged} 行"
        if self.problem_count:
            more = f"（还有 {self.unlisted} 条问题未列出）" if self.unlisted else ""
            return f"发现 {self.problem_count} 个问题{more}，未写入任何数据（共 {self.total_rows} 行）"
        if self.dry_run:
            return f"试导入通过，未写入数据：将{figures}（共 {self.total_rows} 行）"
        return f"导入完成：{figures}（共 {self.total_rows} 行）"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary kept as the job's result (first ``MAX_PROBLEMS_KEPT`` problems)."""
        return {
            "kind": "import", "dry_run": self.dry_run, "committed": self.committed, "ok": self.ok,
            "total_rows": self.total_rows, **asdict(self.counts), "message": self.message,
            "problem_count": self.problem_count, "unlisted": self.unlisted,
            "problems": [asdict(p) for p in self.problems[:MAX_PROBLEMS_KEPT]],
        }


def _noop(done: int, total: int, message: str) -> None:
    return None


def check_header(handler: RowHandler, header: list[str]) -> ImportProblem | None:
    """Unknown or missing required columns → one problem that lists the expected headers."""
    known = {c.label for c in handler.columns}
    present = {h for h in header if h}
    missing = [c.label for c in handler.columns if c.required and c.label not in present]
    unknown = [h for h in header if h and h not in known]
    duplicated = sorted({h for h in header if h and header.count(h) > 1})
    if not (missing or unknown or duplicated):
        return None
    parts = []
    if missing:
        parts.append("缺少必填列「" + "」「".join(missing) + "」")
    if unknown:
        parts.append("未知列「" + "」「".join(unknown) + "」")
    if duplicated:
        parts.append("重复的列「" + "」「".join(duplicated) + "」")
    expected = "，".join(f"{c.label}{'（必填）' if c.required else ''}" for c in handler.columns)
    return ImportProblem(1, None, "，".join(h for h in header if h),
                         "表头不符：" + "；".join(parts) + f"。第1行应为列名：{expected}")


def run_import(handler: RowHandler, file_path: str | Path, dry_run: bool, progress: Progress | None = None,
               session: Session | None = None) -> ImportResult:
    """Check every row, then commit all rows in one transaction — or nothing, on any problem or dry run."""
    from app.documents.uploads import read_upload

    if session is None:
        from app.extensions import db

        session = db.session()
    report = progress or _noop
    result = ImportResult(dry_run=dry_run)
    table = read_upload(Path(file_path))
    result.total_rows = total = len(table.rows)
    header_problem = check_header(handler, table.header)
    if header_problem is not None:
        result.add(header_problem)
        report(0, total, "表头不符，未检查数据行")
        return result
    for line, column, why in table.problems:  # cells no handler may take (control characters, beyond the header)
        result.add(ImportProblem(line, column, None, why))
    report(0, total, f"开始检查 {total} 行")
    clean_rows: list[Any] = []
    seen: dict[Hashable, int] = {}
    for done, (number, values) in enumerate(table.rows, start=1):
        by_field = {c.field: values.get(c.label, "") for c in handler.columns}
        clean, problems = handler.parse(by_field)
        for p in problems:
            result.add(replace(p, row=number) if p.row is None else p)
        if clean is not None and not problems:
            key = handler.key(clean)
            if key in seen:
                shown = "，".join(f"{c.label}={by_field[c.field]}" for c in handler.columns if c.required)
                result.add(ImportProblem(number, None, shown, f"与第 {seen[key]} 行重复：同一记录在文件中只能出现一次"))
            else:
                seen[key] = number
                clean_rows.append(clean)
        if done % PROGRESS_EVERY == 0 or done == total:
            report(done, total, f"已检查 {done}/{total} 行，发现 {result.problem_count} 个问题")
    if result.problem_count:
        session.rollback()
        report(total, total, result.message)
        return result
    report(total, total, "检查通过，正在" + ("试算" if dry_run else "写入") + "……")
    try:
        result.counts = handler.apply(clean_rows, session)
        session.flush()
        if dry_run:
            session.rollback()  # the dry run's changes were never committed: nothing is written
        else:
            session.commit()  # inside the try: the audit rows and deferred checks are written here
            result.committed = True
    except (CountyDeskError, IntegrityError, DataError) as exc:
        session.rollback()
        if isinstance(exc, CountyDeskError):
            why = exc.message
        elif isinstance(exc, IntegrityError):
            why = "数据库拒绝写入（与已有记录冲突，如重复的单位与期间或身份证号）：请核对后重新导入"
        else:
            why = "数据库拒绝写入（有数值过大或文字过长的单元格）：请核对后重新导入"
        result.counts = ImportCounts()
        result.add(ImportProblem(None, None, None, why))
        report(total, total, result.message)
        return result
    report(total, total, result.message)
    return result


def upsert_by_key(session: Session, model: type, key_fields: Sequence[str], rows: Iterable[dict[str, Any]],
                  build: Callable[[dict[str, Any]], Any] | None = None) -> ImportCounts:
    """ORM insert-or-update of dicts by natural key; only attributes whose value differs are set.

    Reads the current tenant's rows of ``model`` once (tenant scoping applies), so an unchanged row
    is not even marked dirty and a re-run issues no UPDATE at all. ``build`` makes a new object
    (default ``model(**values)``); the tenancy guard wants many-to-one targets of new rows set as
    objects, not bare ids, so handlers with references pass one.
    """
    counts = ImportCounts()
    current: list[Any] = list(session.scalars(select(model)))
    existing = {tuple(getattr(obj, f) for f in key_fields): obj for obj in current}
    for values in rows:
        key = tuple(values[f] for f in key_fields)
        obj = existing.get(key)
        if obj is None:
            obj = build(values) if build else model(**values)
            session.add(obj)
            existing[key] = obj
            counts.new += 1
            continue
        diff = {name: value for name, value in values.items() if getattr(obj, name) != value}
        if not diff:
            counts.unchanged += 1
            continue
        for name, value in diff.items():
            setattr(obj, name, value)
        counts.changed += 1
    return counts


def template_xlsx(handler: RowHandler) -> bytes:
    """Import template: the Chinese headers (required ones in red), and a help sheet per column."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "数据"
    for index, column in enumerate(handler.columns, start=1):
        cell = sheet.cell(row=1, column=index, value=column.label)
        cell.font = Font(bold=True, color="C00000" if column.required else None)
        sheet.column_dimensions[get_column_letter(index)].width = max(12, len(column.label) * 2 + 4)
    sheet.freeze_panes = "A2"
    help_sheet = book.create_sheet("填写说明")
    help_sheet.append(["列名", "是否必填", "说明"])
    for cell in help_sheet[1]:
        cell.font = Font(bold=True)
    for column in handler.columns:
        help_sheet.append([column.label, "必填" if column.required else "选填", column.help])
    help_sheet.column_dimensions["A"].width = 20
    help_sheet.column_dimensions["B"].width = 10
    help_sheet.column_dimensions["C"].width = 60
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()

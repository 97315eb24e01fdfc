"""Every problem found in a tenant folder, collected (not raised one by one) and phrased in Chinese."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.errors import CountyDeskError

MAX_LISTED = 200
"""Problems kept and shown; beyond them only the count (a broken 50 MB file must not list a million lines)."""


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}"
        if self.line is not None:
            where += f" 第{self.line}行"
        if self.field:
            where += f" 字段「{self.field}」"
        return f"{where}：{self.message}"


class TenantFolderInvalid(CountyDeskError):
    """Raised once, after validation, carrying all problems; nothing has been written."""

    status = 422

    def __init__(self, problems: list[Problem], unlisted: int = 0):
        self.problems = problems
        self.unlisted = unlisted
        lines = "\n".join(f"  - {p}" for p in problems)
        more = f"\n  还有 {unlisted} 条问题未列出" if unlisted else ""
        super().__init__(f"租户目录有 {len(problems) + unlisted} 处错误，未做任何修改：\n{lines}{more}")


class Problems:
    def __init__(self, limit: int = MAX_LISTED) -> None:
        self.items: list[Problem] = []
        self.unlisted = 0
        self.limit = limit
        self._files: set[str] = set()

    def add(self, file: str, line: int | None, field: str | None, message: str) -> None:
        self._files.add(file.split(".")[0])
        if len(self.items) < self.limit:
            self.items.append(Problem(file, line, field, message))
        else:
            self.unlisted += 1

    @property
    def count(self) -> int:
        return len(self.items) + self.unlisted

    def about(self, stem: str) -> bool:
        """Whether any problem concerns the file ``stem`` (``orgunits`` matches .csv and .xlsx)."""
        return stem in self._files

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise TenantFolderInvalid(self.items, self.unlisted)

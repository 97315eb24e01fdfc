"""Every problem found in a tenant folder, collected (not raised one by one) and phrased in Chinese."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.errors import CountyDeskError


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

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"租户目录有 {len(problems)} 处错误，未做任何修改：\n{lines}")


class Problems:
    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, file: str, line: int | None, field: str | None, message: str) -> None:
        self.items.append(Problem(file, line, field, message))

    def about(self, stem: str) -> bool:
        """Whether any problem concerns the file ``stem`` (``orgunits`` matches .csv and .xlsx)."""
        return any(p.file.split(".")[0] == stem for p in self.items)

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise TenantFolderInvalid(self.items)

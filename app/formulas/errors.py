"""Formula errors: one exception type with a Chinese message that points at a position.

Why one type: the formula editor, form validation and the tenant loader only need to catch a
single ``ValueError`` subclass and show ``str(err)`` (``第1行第12列：未知变量「人品」``) plus
``err.caret`` (the formula line with a ``^`` under the position).  ``kind`` tells them apart when
a caller cares (syntax / name / type / arity / limit / runtime / input).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Pos:
    """A 1-based line and column plus the 0-based character offset into the formula text."""

    line: int
    column: int
    offset: int

    @classmethod
    def at(cls, text: str, offset: int) -> Pos:
        offset = max(0, min(offset, len(text)))
        line = text.count("\n", 0, offset) + 1
        column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        return cls(line, column, offset)


def _display_prefix(prefix: str) -> str:
    """Blank out ``prefix`` keeping its display width (CJK characters take two columns)."""
    out = []
    for ch in prefix:
        if ch == "\t":
            out.append("\t")
        elif unicodedata.east_asian_width(ch) in ("W", "F"):
            out.append("  ")
        elif unicodedata.combining(ch):
            continue
        else:
            out.append(" ")
    return "".join(out)


class FormulaError(ValueError):
    """A formula that cannot be parsed, type-checked or evaluated.

    ``message`` is the bare Chinese message; ``str(err)`` prefixes it with the position.
    ``line``/``column`` are 1-based (``None`` when the error has no position).
    """

    kind: str = "syntax"

    def __init__(self, message: str, *, text: str = "", pos: Pos | None = None, kind: str | None = None):
        self.message = message
        self.text = text
        self.pos = pos
        if kind is not None:
            self.kind = kind
        super().__init__(message)

    @property
    def line(self) -> int | None:
        return self.pos.line if self.pos else None

    @property
    def column(self) -> int | None:
        return self.pos.column if self.pos else None

    @property
    def caret(self) -> str:
        """The offending formula line and a ``^`` under the error position ('' without a position)."""
        if self.pos is None or not self.text:
            return ""
        lines = self.text.split("\n")
        line = lines[self.pos.line - 1].rstrip("\r") if self.pos.line - 1 < len(lines) else ""
        return line + "\n" + _display_prefix(line[: self.pos.column - 1]) + "^"

    def __str__(self) -> str:
        if self.pos is None:
            return self.message
        return f"第{self.pos.line}行第{self.pos.column}列：{self.message}"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments would break the default exception pickling (job queues pickle).
        return (self.__class__, (self.message,), self.__dict__)


class FormulaRuntimeError(FormulaError):
    """Raised by the Python evaluator (division by zero, unknown education level, bad input…).

    The SQL back end cannot raise per row; where Python raises this, SQL yields NULL.
    """

    kind = "runtime"

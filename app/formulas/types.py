"""The five value types of the formula language and the declared variables that carry them.

Why declared: a formula is type-checked when an admin saves it, long before any record is
evaluated, so every name it may use must come with a type.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class FType(enum.Enum):
    """A formula value type.  ``zh`` is the name shown in error messages."""

    NUMBER = "number"
    TEXT = "text"
    BOOL = "bool"
    DATE = "date"
    EDUCATION = "education"

    @property
    def zh(self) -> str:
        return _ZH[self]

    @classmethod
    def parse(cls, value: FType | str) -> FType:
        """Accept an ``FType`` or its name/value in any case (``"NUMBER"``, ``"number"``)."""
        if isinstance(value, FType):
            return value
        text = str(value).strip()
        for member in cls:
            if text.lower() in (member.value, member.name.lower()) or text == member.zh:
                return member
        raise ValueError(f"未知的字段类型「{value}」")


_ZH = {
    FType.NUMBER: "数字",
    FType.TEXT: "文本",
    FType.BOOL: "逻辑值",
    FType.DATE: "日期",
    FType.EDUCATION: "学历",
}


@dataclass(frozen=True, slots=True)
class Variable:
    """A declared field a formula references by ``code`` (``resident_pop``) or ``label`` (``计生常住人口``).

    Values handed to :meth:`Formula.evaluate` and columns handed to :meth:`Formula.to_sql` are
    keyed by ``code``.
    """

    code: str
    label: str
    type: FType

    def __post_init__(self) -> None:
        if not self.code:
            raise ValueError("变量代码不能为空")
        object.__setattr__(self, "type", FType.parse(self.type))

"""The fields a formula about a person may use (eligibility: ``AND(年龄 <= 40, 学历 >= "高中")``).

``年龄`` is the age in full years on the rule's reference date (a recruitment deadline, or today).
"""

from __future__ import annotations

from app.formulas import FType, Variable

PERSON_VARIABLES: tuple[Variable, ...] = (
    Variable("age", "年龄", FType.NUMBER),
    Variable("education", "学历", FType.EDUCATION),
    Variable("sex", "性别", FType.TEXT),
    Variable("birth_date", "出生日期", FType.DATE),
    Variable("reference_date", "截止日期", FType.DATE),
)

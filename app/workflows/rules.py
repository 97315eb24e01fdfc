"""The ``rules:`` key of a workflow definition: county recruitment and appraisal rules as data.

Parsed and validated here when a definition loads (every problem with its place); checked by the
engine in ``app.workflows.recruitment`` (candidates, rounds, terms) and ``app.workflows.appraisal``
(grades, 末位). Kept apart from the checks so a definition can be read without the staffing models.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.formulas import FormulaError, FType, Variable, compile_formula
from app.formulas.formula import Formula

ROUND_VARIABLES: tuple[Variable, ...] = (
    Variable("posts", "岗位数", FType.NUMBER),
    Variable("quota", "编制数", FType.NUMBER),
    Variable("vacant", "空缺数", FType.NUMBER),
)
"""What ``candidates.max`` may use: posts to fill in the round, the unit's quota and its vacancies."""

RESULT_VARIABLES: tuple[Variable, ...] = (
    Variable("grade", "等次", FType.TEXT),
    Variable("total", "总分", FType.NUMBER),
    Variable("rank_in_town", "镇内名次", FType.NUMBER),
    Variable("town_count", "镇内人数", FType.NUMBER),
    Variable("rank_in_county", "县内名次", FType.NUMBER),
    Variable("county_count", "县内人数", FType.NUMBER),
)
"""What an appraisal's ``last_place`` (末位淘汰) formula may use."""

TERM_ENDS = ("term", "batch")
_KEYS = {"check_at", "required", "ranking", "candidates", "eligibility", "rehire_ban", "term_end", "appraisal"}


@dataclass(frozen=True)
class AppraisalRule:
    """SS-7: which case field holds the final grade, the scheme code, and the 末位淘汰 rule."""

    scheme: str
    grade_field: str
    last_place: Formula | None = None
    total_field: str | None = None
    """The number field holding the case's total: with it a year's results are ranked like the
    monthly ones (town and county) and the 末位 formula may use the ranks."""


@dataclass(frozen=True)
class Ranking:
    """GL-2: ``action`` (hiring) only for candidates ranked within the posts by the number field ``by``."""

    by: str
    action: str


@dataclass(frozen=True)
class Rules:
    max_candidates: Formula | None = None
    not_counted: tuple[str, ...] = ()
    eligibility: bool = False
    rehire_ban: bool = False
    term_end: str = "term"
    check_at: str | None = None
    """The action at which candidates are checked (the village's 推荐上报); None: when the case starts."""
    appraisal: AppraisalRule | None = None
    required: tuple[str, ...] = ()
    """Fields that must be filled when the case starts (GL-3: the acting person, named at once)."""
    ranking: Ranking | None = None
    max_after: Formula | None = None
    """SS-5 "the city fixes the candidates by the posts": at ``after_action`` the round's candidates
    already past that step may not reach this number (the posts + 1 recommended shrink to the posts)."""
    after_action: str | None = None
    _extra: dict[str, Any] = field(default_factory=dict, compare=False)


def parse_rules(raw: Any, add: Callable[[str, str], None], states: Iterable[str], actions: Iterable[str],
                functions: Any = None, fields: Iterable[Any] = ()) -> Rules | None:
    """Validate ``rules:``; every problem goes to ``add(place, message)``."""
    if not isinstance(raw, Mapping):
        add("rules", "应为映射（candidates / eligibility / rehire_ban / term_end / appraisal）")
        return None
    for key in raw:
        if key not in _KEYS:
            add(f"rules.{key}", "未知规则（请检查拼写）")
    states = set(states)
    max_formula, not_counted = None, ()
    max_after, after_action = None, None
    cand = raw.get("candidates")
    if cand is not None:
        if not isinstance(cand, Mapping):
            add("rules.candidates", "应为 {max: 公式, not_counted: [状态]}，如 {max: 岗位数 + 1}")
        else:
            for key in cand:
                if key not in ("max", "not_counted", "max_after", "after_action"):
                    add(f"rules.candidates.{key}", "未知字段（请检查拼写）")
            if cand.get("max") is not None:
                max_formula = _formula(str(cand["max"]), ROUND_VARIABLES, FType.NUMBER, "rules.candidates.max", add,
                                       functions)
            if (cand.get("max_after") is None) != (cand.get("after_action") is None):
                add("rules.candidates.max_after", "max_after（确定人数公式，如 岗位数）与 after_action（确定候选人的"
                    "动作，如 county_approve）须同时填写")
            elif cand.get("max_after") is not None:
                max_after = _formula(str(cand["max_after"]), ROUND_VARIABLES, FType.NUMBER,
                                     "rules.candidates.max_after", add, functions)
                if cand["after_action"] not in set(actions):
                    add("rules.candidates.after_action", f"未知动作「{cand['after_action']}」")
                else:
                    after_action = str(cand["after_action"])
            nc = cand.get("not_counted", [])
            if not isinstance(nc, list) or any(s not in states for s in nc):
                add("rules.candidates.not_counted", f"应为状态代码列表（得到「{nc}」）")
            else:
                not_counted = tuple(nc)
    flags = {}
    for key in ("eligibility", "rehire_ban"):
        value = raw.get(key, False)
        if not isinstance(value, bool):
            add(f"rules.{key}", "应为 true 或 false")
        flags[key] = bool(value)
    term_end = raw.get("term_end", "term")
    if term_end not in TERM_ENDS:
        add("rules.term_end", f"应为 term（满聘期）或 batch（随本届期满）（得到「{term_end}」）")
    check_at = raw.get("check_at")
    if check_at is not None and check_at not in set(actions):
        add("rules.check_at", f"未知动作「{check_at}」（应为核对候选人时的流转动作，如 recommend）")
    field_types = {f.code: f.type for f in fields}
    appraisal = _appraisal(raw.get("appraisal"), add, functions, field_types) \
        if raw.get("appraisal") is not None else None
    required = raw.get("required", [])
    if not isinstance(required, list) or any(r not in field_types for r in required):
        add("rules.required", f"应为流程字段代码列表（得到「{required}」；可用：{'、'.join(field_types) or '无'}）")
        required = []
    ranking = None
    rk = raw.get("ranking")
    if rk is not None:
        if not isinstance(rk, Mapping) or field_types.get(rk.get("by")) is not FType.NUMBER \
                or rk.get("action") not in set(actions):
            add("rules.ranking", "应为 {by: 数字字段代码, action: 聘用动作}，如 {by: exam_score, action: hire}")
        else:
            ranking = Ranking(str(rk["by"]), str(rk["action"]))
    return Rules(max_formula, not_counted, flags["eligibility"], flags["rehire_ban"], str(term_end),
                 str(check_at) if check_at else None, appraisal, tuple(required), ranking, max_after, after_action)


def _formula(text: str, variables: Iterable[Variable], expected: FType, where: str,
             add: Callable[[str, str], None], functions: Any) -> Formula | None:
    try:
        formula = compile_formula(text, list(variables), functions)
    except FormulaError as exc:
        add(where, f"公式「{text}」有误：{exc}")
        return None
    if formula.result_type is not expected:
        add(where, f"公式「{text}」的结果应为{expected.zh}")
        return None
    return formula


def _appraisal(raw: Any, add: Callable[[str, str], None], functions: Any,
               field_types: Mapping[str, FType]) -> AppraisalRule | None:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("scheme"), str):
        add("rules.appraisal", "应为 {scheme: 方案代码, grade_field: 字段, total_field: 数字字段, last_place: 公式}")
        return None
    last = raw.get("last_place")
    formula = _formula(str(last), RESULT_VARIABLES, FType.BOOL, "rules.appraisal.last_place", add, functions) \
        if last is not None else None
    total = raw.get("total_field")
    if total is not None and (not isinstance(total, str) or field_types.get(total) is not FType.NUMBER):
        numbers = "、".join(code for code, t in field_types.items() if t is FType.NUMBER) or "无"
        add("rules.appraisal.total_field", f"应为数字字段的代码（得到「{total}」；可用：{numbers}）")
        total = None
    return AppraisalRule(raw["scheme"], str(raw.get("grade_field", "grade")), formula, total)


# -- checks ------------------------------------------------------------------------------------

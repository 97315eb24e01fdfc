"""Form definitions as data: parsing plain dicts (YAML or the designer) into a :class:`FormDef`.

Why collect instead of raise: a county admin fixing a form wants every mistake at once, each
with where it is (form, section, field) in Chinese, like tenant.yaml's problems. The parsed types
live in ``app.forms.definition_model`` and are re-exported here (the usual import path).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from app.forms.definition_model import (
    CODE_RE,
    FIELD_CODE_RE,
    FIELD_KEYS,
    FIELD_TYPE_LABELS,
    FIELD_TYPES,
    FORM_KEYS,
    FORMULA_TYPES,
    NUMERIC_TYPES,
    ORG_TARGETS,
    PATTERN_MAX,
    PERIODICITIES,
    RESERVED_CODES,
    RULE_KEYS,
    SECTION_KEYS,
    TARGETS,
    TEXT_DEFAULT_MAX,
    TEXT_TYPES,
    TEXTAREA_DEFAULT_MAX,
    DefinitionError,
    DefinitionProblem,
    FieldDef,
    FormDef,
    RuleDef,
    SectionDef,
    form_variables,
)
from app.formulas import FormulaError, FType, Variable, compile_formula

# Nested quantifiers such as (a+)+ backtrack exponentially; refuse them outright.
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*}]\)\s*[+*{]")


class _Collector:
    def __init__(self, code: str) -> None:
        self.code = code
        self.items: list[DefinitionProblem] = []

    def add(self, path: tuple[Any, ...], where: str, message: str) -> None:
        self.items.append(DefinitionProblem(path, f"表单「{self.code}」{where}", message))


def load_form(raw: Any, functions: Any = None) -> FormDef:
    """Parse a form dict; raise :class:`DefinitionError` with every problem found."""
    form, problems = parse_form(raw, functions)
    if problems or form is None:
        raise DefinitionError(problems)
    return form


def parse_form(raw: Any, functions: Any = None) -> tuple[FormDef | None, list[DefinitionProblem]]:
    """Parse a form dict; the form (None on any problem) and every problem found."""
    if not isinstance(raw, Mapping):
        return None, [DefinitionProblem((), "表单", "应为映射（code: …, name: …, sections: …）")]
    code = raw.get("code")
    out = _Collector(code if isinstance(code, str) and code else "?")
    for key in raw:
        if key not in FORM_KEYS:
            out.add((key,), "", f"未知的键「{key}」（可用：{'、'.join(FORM_KEYS)}）")
    if not isinstance(code, str) or not CODE_RE.match(code):
        out.add(("code",), "", "代码应以字母开头，只含字母、数字、下划线，最长32位")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 128:
        out.add(("name",), "", "名称必填，最长128字")
    target = _target(raw.get("target"))
    if target not in TARGETS:
        out.add(("target",), "",
                f"填报对象「{raw.get('target')}」无效，应为 village/town/county（村/镇/县）或 person（人员）")
    periodicity = raw.get("periodicity", "none") or "none"
    if periodicity not in PERIODICITIES:
        out.add(("periodicity",), "", f"周期「{periodicity}」无效，应为 none/monthly/quarterly/yearly")
    periodic = periodicity != "none"
    due_day = _int_opt(raw, "due_day", 1, 28, out, "截止日应为 1–28 的整数")
    lock_after = _int_opt(raw, "lock_after_days", 0, 366, out, "锁定天数应为 0–366 的整数")
    if not periodic and (due_day is not None or lock_after is not None):
        out.add(("due_day",), "", "只有周期性表单（monthly/quarterly/yearly）才有截止日和锁定天数")
    if lock_after is not None and due_day is None and periodic:
        out.add(("lock_after_days",), "", "设置了锁定天数，也要设置截止日 due_day")
    sections = _sections(raw.get("sections"), out)
    fields = [f for s in sections for f in s.fields]
    _duplicates(fields, out)
    key = _key(raw.get("key"), periodic, {f.code: f for f in fields}, out)
    valid_fields = [f for f in fields if f.type in FIELD_TYPES]
    variables = form_variables(valid_fields)
    _check_defaults(sections, variables, functions, out)
    rules = _rules(raw.get("rules"), variables, functions, out)
    signatures = _print(raw.get("print"), out)
    if out.items:
        return None, out.items
    assert isinstance(code, str) and isinstance(name, str)
    form = FormDef(code=code, name=name.strip(), target=target, periodicity=periodicity, due_day=due_day,
                   lock_after_days=lock_after, key=key, sections=tuple(sections), rules=tuple(rules),
                   signatures=signatures)
    return form, []


def _target(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    from app.tenantio.levels import normalize_level

    text = value.strip()
    return "person" if text in ("person", "人员", "人") else normalize_level(text)


def _int_opt(raw: Mapping[str, Any], key: str, low: int, high: int, out: _Collector, message: str) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        out.add((key,), "", f"{message}（现为「{value}」）")
        return None
    return value


def _sections(raw: Any, out: _Collector) -> list[SectionDef]:
    if not isinstance(raw, list) or not raw:
        out.add(("sections",), "", "至少要有一节（sections: - title: … fields: …）")
        return []
    sections = []
    for i, sec in enumerate(raw):
        where = f"第{i + 1}节"
        if not isinstance(sec, Mapping):
            out.add(("sections", i), where, "应为映射（title: …, fields: …）")
            continue
        for key in sec:
            if key not in SECTION_KEYS:
                out.add(("sections", i, key), where, f"未知的键「{key}」（可用：title、fields）")
        title = sec.get("title")
        if not isinstance(title, str) or not title.strip():
            out.add(("sections", i, "title"), where, "标题 title 必填")
            title = ""
        where = f"第{i + 1}节「{title}」" if title else where
        raw_fields = sec.get("fields")
        if not isinstance(raw_fields, list) or not raw_fields:
            out.add(("sections", i, "fields"), where, "至少要有一个字段")
            continue
        parsed = [_field(f, ("sections", i, "fields", j), where, out) for j, f in enumerate(raw_fields)]
        sections.append(SectionDef(title.strip(), tuple(f for f in parsed if f is not None)))
    return sections


def _field(raw: Any, path: tuple[Any, ...], section_where: str, out: _Collector) -> FieldDef | None:
    if not isinstance(raw, Mapping):
        out.add(path, section_where, "字段应为映射（code: …, label: …, type: …）")
        return None
    code = raw.get("code")
    where = (f"{section_where}字段「{code}」" if isinstance(code, str) and code
             else f"{section_where}第{path[-1] + 1}个字段")
    before = len(out.items)

    def bad(key: str, message: str) -> None:
        out.add((*path, key), where, message)

    for key in raw:
        if key not in FIELD_KEYS:
            bad(key, f"未知的键「{key}」（可用：{'、'.join(FIELD_KEYS)}）")
    if not isinstance(code, str) or not FIELD_CODE_RE.match(code):
        bad("code", "代码应以字母或下划线开头，只含字母、数字、下划线")
    elif code in RESERVED_CODES:
        bad("code", f"代码「{code}」是保留字，请换一个")
    label = raw.get("label")
    if not isinstance(label, str) or not label.strip() or len(label) > 64:
        bad("label", "标签 label 必填，最长64字")
        label = ""
    ftype = raw.get("type")
    if ftype not in FIELD_TYPES:
        bad("type", f"类型「{ftype}」无效，应为 {'/'.join(FIELD_TYPES)}")
    required = raw.get("required", False)
    if not isinstance(required, bool):
        bad("required", "required 应为 true 或 false")
    numeric = ftype in NUMERIC_TYPES
    bounds: dict[str, float | None] = {}
    for key in ("min", "max"):
        value = raw.get(key)
        bounds[key] = None
        if value is None:
            continue
        if not numeric:
            bad(key, f"只有数字类字段（整数、小数、金额）才能设置 {key}")
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            bad(key, f"{key} 应为数字（现为「{value}」）")
        else:
            bounds[key] = value
    low, high = bounds["min"], bounds["max"]
    if low is not None and high is not None and low > high:
        bad("max", f"最大值 {high} 小于最小值 {low}")
    max_length = raw.get("max_length")
    if max_length is not None:
        if ftype not in TEXT_TYPES:
            bad("max_length", "只有文本字段才能设置 max_length")
        elif isinstance(max_length, bool) or not isinstance(max_length, int) or not 1 <= max_length <= 100_000:
            bad("max_length", "max_length 应为 1–100000 的整数")
    pattern = raw.get("pattern")
    if pattern is not None:
        problem = _pattern_problem(pattern) if ftype in TEXT_TYPES else "只有文本字段才能设置 pattern"
        if problem:
            bad("pattern", problem)
    help_text = raw.get("help")
    if help_text is not None and not isinstance(help_text, str):
        bad("help", "help 应为文本")
    choices = raw.get("choices")
    if ftype in ("choice", "multichoice"):
        if (not isinstance(choices, list) or not choices
                or not all(isinstance(c, (str, int)) and not isinstance(c, bool) and str(c).strip() for c in choices)):
            bad("choices", "选择类字段要有选项列表 choices（如 [优秀, 合格, 不合格]）")
            choices = []
        else:
            choices = [str(c).strip() for c in choices]
            dupes = sorted({c for c in choices if choices.count(c) > 1})
            if dupes:
                bad("choices", f"选项重复：{'、'.join(dupes)}")
    elif choices is not None:
        bad("choices", "只有单选、多选字段才能设置 choices")
        choices = []
    default = raw.get("default")
    if isinstance(default, dt.date):
        default = default.isoformat()
    if len(out.items) > before:
        return None
    assert isinstance(code, str) and isinstance(ftype, str)
    return FieldDef(code=code, label=label.strip(), type=ftype, required=required, default=default,
                    min=low, max=high, max_length=max_length, pattern=pattern, help=help_text,
                    choices=tuple(choices or ()))


def _pattern_problem(pattern: Any) -> str | None:
    if not isinstance(pattern, str) or not pattern:
        return "pattern 应为正则表达式文本"
    if len(pattern) > PATTERN_MAX:
        return f"正则表达式太长（最长{PATTERN_MAX}字符）"
    if _NESTED_QUANTIFIER.search(pattern):
        return "正则表达式含嵌套的重复（如 (a+)+），可能导致匹配极慢，请改写"
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"正则表达式无效：{exc}"
    return None


def _duplicates(fields: list[FieldDef], out: _Collector) -> None:
    seen_codes: set[str] = set()
    seen_labels: set[str] = set()
    for f in fields:
        if f.code in seen_codes:
            out.add(("sections",), f"字段「{f.code}」", "字段代码重复")
        if f.label in seen_labels:
            out.add(("sections",), f"字段「{f.code}」", f"标签「{f.label}」重复（公式按标签引用字段，标签须唯一）")
        seen_codes.add(f.code)
        seen_labels.add(f.label)


def _key(raw: Any, periodic: bool, by_code: dict[str, FieldDef], out: _Collector) -> tuple[str, ...]:
    if raw is None:
        return ()
    if periodic:
        out.add(("key",), "", "周期性表单按单位（或人员）和期间确定唯一，不能设置 key")
        return ()
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw or not all(isinstance(k, str) for k in raw):
        out.add(("key",), "", "key 应为字段代码列表，如 [record_date, title]")
        return ()
    for k in raw:
        f = by_code.get(k)
        if f is None:
            out.add(("key",), "", f"key 中的字段「{k}」不存在")
        elif f.type in ("multichoice", "attachment", "textarea"):
            out.add(("key",), "", f"key 中的字段「{k}」是{f.type_label}，不能用作唯一键")
        elif not f.required:
            out.add(("key",), "", f"key 中的字段「{k}」应为必填（required: true）")
    return tuple(raw)


def _check_defaults(sections: list[SectionDef], variables: list[Variable], functions: Any,
                    out: _Collector) -> None:
    for i, sec in enumerate(sections):
        for j, f in enumerate(sec.fields):
            if f.default is None:
                continue
            path = ("sections", i, "fields", j, "default")
            where = f"第{i + 1}节「{sec.title}」字段「{f.code}」"
            if f.default_is_formula:
                wanted = FORMULA_TYPES.get(f.type)
                if wanted is None:
                    out.add(path, where, f"{f.type_label}字段不能用公式作默认值")
                    continue
                others = [v for v in variables if v.code != f.code]
                try:
                    compiled = compile_formula(f.default[1:], others, functions)
                except FormulaError as exc:
                    out.add(path, where, f"默认值公式「{f.default}」有误：{exc}")
                    continue
                if compiled.result_type is not wanted:
                    out.add(path, where, f"默认值公式的结果是{compiled.result_type.zh}，字段要的是{wanted.zh}")
                continue
            problem = literal_problem(f, f.default)
            if problem:
                out.add(path, where, f"默认值「{f.default}」无效：{problem}")


def literal_problem(f: FieldDef, value: Any) -> str | None:
    """Why a literal default does not suit the field (None if it does)."""
    t = f.type
    if t in NUMERIC_TYPES:
        wrong_kind = t == "integer" and isinstance(value, float)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or wrong_kind:
            return "应为整数" if t == "integer" else "应为数字"
        if (f.min is not None and value < f.min) or (f.max is not None and value > f.max):
            return "超出取值范围"
    elif t == "boolean":
        return None if isinstance(value, bool) else "应为 true 或 false"
    elif t == "date":
        try:
            dt.date.fromisoformat(str(value))
        except ValueError:
            return "应为日期，如 2025-01-31"
    elif t == "choice":
        return None if value in f.choices else f"不在选项中（{'、'.join(f.choices)}）"
    elif t == "multichoice":
        return None if isinstance(value, list) and all(v in f.choices for v in value) else "应为选项列表"
    elif t in TEXT_TYPES:
        return None if isinstance(value, str) and len(value) <= f.text_limit else "应为文本"
    else:
        return f"{f.type_label}字段不能有默认值"
    return None


def _print(raw: Any, out: _Collector) -> tuple[str, ...]:
    """``print: {signatures: [村委会意见, 镇人民政府意见]}`` — what the printed form adds (optional)."""
    if raw is None:
        return ()
    if not isinstance(raw, Mapping) or set(raw) - {"signatures"}:
        out.add(("print",), "", "print 应为映射，只有 signatures 一项（如 signatures: [村委会意见, 镇人民政府意见]）")
        return ()
    labels = raw.get("signatures") or []
    if (not isinstance(labels, list) or len(labels) > 6
            or not all(isinstance(x, str) and x.strip() and len(x) <= 32 for x in labels)):
        out.add(("print", "signatures"), "", "签字栏 signatures 应为最多6个、每个不超过32字的文字列表")
        return ()
    return tuple(x.strip() for x in labels)


def _rules(raw: Any, variables: list[Variable], functions: Any, out: _Collector) -> list[RuleDef]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        out.add(("rules",), "", "rules 应为列表（- check: … message: …）")
        return []
    rules = []
    for i, rule in enumerate(raw):
        where = f"第{i + 1}条校验规则"
        if not isinstance(rule, Mapping):
            out.add(("rules", i), where, "应为映射（check: 公式, message: 提示）")
            continue
        for key in rule:
            if key not in RULE_KEYS:
                out.add(("rules", i, key), where, f"未知的键「{key}」（可用：check、message）")
        check, message = rule.get("check"), rule.get("message")
        if not isinstance(message, str) or not message.strip():
            out.add(("rules", i, "message"), where, "提示 message 必填")
        if not isinstance(check, str) or not check.strip():
            out.add(("rules", i, "check"), where, "公式 check 必填")
            continue
        try:
            compiled = compile_formula(check, variables, functions)
        except FormulaError as exc:
            out.add(("rules", i, "check"), where, f"公式「{check}」有误：{exc}")
            continue
        if compiled.result_type is not FType.BOOL:
            out.add(("rules", i, "check"), where, f"公式「{check}」的结果应为是/否，现为{compiled.result_type.zh}")
            continue
        if isinstance(message, str) and message.strip():
            rules.append(RuleDef(check, message.strip()))
    return rules


__all__ = ["CODE_RE", "FIELD_CODE_RE", "FIELD_KEYS", "FIELD_TYPES", "FIELD_TYPE_LABELS", "FORMULA_TYPES", "FORM_KEYS",
           "NUMERIC_TYPES", "ORG_TARGETS", "PATTERN_MAX", "PERIODICITIES", "RESERVED_CODES", "RULE_KEYS",
           "SECTION_KEYS", "TARGETS", "TEXTAREA_DEFAULT_MAX", "TEXT_DEFAULT_MAX", "TEXT_TYPES", "DefinitionError",
           "DefinitionProblem", "FieldDef", "FormDef", "RuleDef", "SectionDef", "form_variables", "literal_problem",
           "load_form", "parse_form"]

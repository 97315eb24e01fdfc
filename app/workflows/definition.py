"""Workflow definitions are data: parsed from a tenant's YAML into frozen dataclasses.

The dataclasses live in ``app.workflows.definition_types`` and are re-exported here, so
``from app.workflows.definition import Definition`` keeps working.

Every problem is collected (not raised one by one) with the place it was found
(``transitions[2].to``), in Chinese, so a county admin can fix a whole file at once.
Conditions are formulas type-checked at load against the definition's declared fields
and the subject's variables, exactly as position formulas are.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any

from app.formulas import FormulaError, FType, compile_formula
from app.formulas.formula import Formula
from app.workflows.definition_types import (
    ESCALATE,
    LEVELS,
    ROLE_LEVELS,
    SUBJECTS,
    Approval,
    Definition,
    FieldSpec,
    MonthDay,
    State,
    Timer,
    Transition,
    Who,
    condition_variables,
)

__all__ = ["ESCALATE", "LEVELS", "ROLE_LEVELS", "SUBJECTS", "Approval", "Definition", "DefinitionInvalid",
           "FieldSpec", "MonthDay", "State", "Timer", "Transition", "Who", "condition_variables",
           "parse_definition"]

_CODE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_MONTH_DAY_RE = re.compile(r"^(\d{1,2})-(\d{1,2})$")
_FIELD_TYPES = {"number": FType.NUMBER, "text": FType.TEXT, "bool": FType.BOOL, "date": FType.DATE,
                "education": FType.EDUCATION}


class DefinitionInvalid(ValueError):
    """All problems of one definition, each ``位置：问题``."""

    def __init__(self, code: str, problems: list[str]):
        self.code = code
        self.problems = problems
        super().__init__(f"流程定义「{code}」有 {len(problems)} 处错误：" + "；".join(problems))


def parse_definition(raw: Any, *, known_tasks: Iterable[str] | None = None,
                     known_forms: Iterable[str] | None = None, functions: Any = None) -> Definition:
    """Parse one definition dict; raise :class:`DefinitionInvalid` with every problem found.

    ``known_tasks``/``known_forms`` (when given) check the names used; an unknown form is only a
    warning in this slice (forms may be configured after the workflow).
    """
    p = _Parser(known_tasks, known_forms, functions)
    definition = p.parse(raw)
    if p.problems or definition is None:
        code = raw.get("code") if isinstance(raw, Mapping) else None
        raise DefinitionInvalid(str(code or "?"), p.problems)
    return definition


class _Parser:
    def __init__(self, known_tasks: Iterable[str] | None, known_forms: Iterable[str] | None, functions: Any):
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.known_tasks = set(known_tasks) if known_tasks is not None else None
        self.known_forms = set(known_forms) if known_forms is not None else None
        self.functions = functions

    def add(self, where: str, message: str) -> None:
        self.problems.append(f"{where}：{message}" if where else message)

    # -- helpers -------------------------------------------------------------------------------
    def _code(self, value: Any, where: str, what: str) -> str | None:
        if not isinstance(value, str) or not _CODE_RE.match(value):
            self.add(where, f"{what}应为字母开头的字母、数字、下划线（得到「{value}」）")
            return None
        return value

    def _text(self, value: Any, where: str, what: str, default: str | None = None) -> str | None:
        if value is None and default is not None:
            return default
        if not isinstance(value, str) or not value.strip():
            self.add(where, f"缺少{what}")
            return None
        return value.strip()

    def _month_day(self, value: Any, where: str) -> MonthDay | None:
        m = _MONTH_DAY_RE.match(str(value)) if isinstance(value, str) else None
        if m:
            try:
                dt.date(2024, int(m.group(1)), int(m.group(2)))  # a leap year accepts 02-29
                return MonthDay(int(m.group(1)), int(m.group(2)))
            except ValueError:
                pass
        self.add(where, f"日期应为「月-日」，如 \"10-31\"（得到「{value}」）")
        return None

    def _mapping(self, value: Any, where: str) -> Mapping[str, Any] | None:
        if not isinstance(value, Mapping):
            self.add(where, "应为映射（键: 值）")
            return None
        return value

    def _unknown_keys(self, raw: Mapping[str, Any], allowed: set[str], where: str) -> None:
        for key in raw:
            if key not in allowed:
                self.add(f"{where}.{key}" if where else str(key), "未知字段（请检查拼写）")

    # -- parts ---------------------------------------------------------------------------------
    def parse(self, raw: Any) -> Definition | None:
        top = self._mapping(raw, "")
        if top is None:
            return None
        self._unknown_keys(top, {"code", "name", "subject", "states", "transitions", "fields",
                                 "allow_self_approval", "rules"}, "")
        code = self._code(top.get("code"), "code", "流程代码")
        name = self._text(top.get("name"), "name", "流程名称")
        subject = top.get("subject", "person")
        if subject not in SUBJECTS:
            self.add("subject", f"办理对象应为 {' / '.join(SUBJECTS)}（得到「{subject}」）")
        fields = self._fields(top.get("fields", []))
        states = self._states(top.get("states"))
        codes = {s.code for s in states}
        transitions = self._transitions(top.get("transitions"), codes)
        self._check_graph(states, transitions)
        conditions = self._conditions(str(subject), fields, transitions)
        rules = None
        if top.get("rules") is not None:
            from app.workflows.rules import parse_rules

            rules = parse_rules(top["rules"], self.add, {s.code for s in states}, {t.action for t in transitions},
                                self.functions, fields)
        allow_self = top.get("allow_self_approval", False)
        if not isinstance(allow_self, bool):
            self.add("allow_self_approval", "应为 true 或 false")
        if self.problems or code is None or name is None:
            return None
        return Definition(code, name, str(subject), tuple(states), tuple(transitions), tuple(fields),
                          bool(allow_self), tuple(self.warnings), conditions, rules)

    def _fields(self, raw: Any) -> list[FieldSpec]:
        if not isinstance(raw, list):
            self.add("fields", "应为列表")
            return []
        out = []
        for i, item in enumerate(raw):
            where = f"fields[{i}]"
            f = self._mapping(item, where)
            if f is None:
                continue
            self._unknown_keys(f, {"code", "label", "type"}, where)
            code = self._code(f.get("code"), f"{where}.code", "字段代码")
            label = self._text(f.get("label"), f"{where}.label", "字段名称", default=code or "")
            ftype = _FIELD_TYPES.get(str(f.get("type", "text")))
            if ftype is None:
                self.add(f"{where}.type", f"字段类型应为 {' / '.join(_FIELD_TYPES)}（得到「{f.get('type')}」）")
            if code and label and ftype:
                out.append(FieldSpec(code, label, ftype))
        return out

    def _states(self, raw: Any) -> list[State]:
        if not isinstance(raw, list) or not raw:
            self.add("states", "至少要有一个状态（列表）")
            return []
        out: list[State] = []
        seen: set[str] = set()
        for i, item in enumerate(raw):
            where = f"states[{i}]"
            s = self._mapping(item, where)
            if s is None:
                continue
            self._unknown_keys(s, {"code", "label", "final", "timer", "opens"}, where)
            code = self._code(s.get("code"), f"{where}.code", "状态代码")
            label = self._text(s.get("label"), f"{where}.label", "状态名称")
            if code in seen:
                self.add(f"{where}.code", f"状态「{code}」重复")
            final = s.get("final", False)
            if not isinstance(final, bool):
                self.add(f"{where}.final", "应为 true 或 false")
            timer = self._timer(s.get("timer"), f"{where}.timer") if s.get("timer") is not None else None
            opens = self._month_day(s.get("opens"), f"{where}.opens") if s.get("opens") is not None else None
            if final and timer is not None:
                self.add(f"{where}.timer", "终止状态不能设定时限")
            if code and label:
                seen.add(code)
                out.append(State(code, label, bool(final), timer, opens))
        return out

    def _timer(self, raw: Any, where: str) -> Timer | None:
        t = self._mapping(raw, where)
        if t is None:
            return None
        self._unknown_keys(t, {"duration_days", "duration_months", "deadline", "on_timeout"}, where)
        days, deadline, months = t.get("duration_days"), t.get("deadline"), t.get("duration_months")
        if sum(x is not None for x in (days, deadline, months)) != 1:
            self.add(where, "应设 duration_days（天数）或 deadline（月-日）二者之一（按月计时则只设 duration_months）")
            return None
        if months is not None and (not isinstance(months, int) or isinstance(months, bool) or not 1 <= months <= 36):
            self.add(f"{where}.duration_months", f"月数应为 1–36 的整数（得到「{months}」）")
            return None
        if days is not None and (not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 366):
            self.add(f"{where}.duration_days", f"天数应为 1–366 的整数（得到「{days}」）")
            return None
        md = self._month_day(deadline, f"{where}.deadline") if deadline is not None else None
        if deadline is not None and md is None:
            return None
        on_timeout = t.get("on_timeout")
        if not isinstance(on_timeout, str) or not on_timeout:
            self.add(f"{where}.on_timeout", "缺少超时处理（一个流转动作，或 escalate 表示逾期上报）")
            return None
        return Timer(on_timeout, days, md, months)

    def _transitions(self, raw: Any, states: set[str]) -> list[Transition]:
        if not isinstance(raw, list):
            self.add("transitions", "应为列表")
            return []
        out: list[Transition] = []
        seen: set[str] = set()
        for i, item in enumerate(raw):
            where = f"transitions[{i}]"
            t = self._mapping(item, where)
            if t is None:
                continue
            self._unknown_keys(t, {"action", "label", "from", "to", "who", "condition", "form", "tasks",
                                   "approval", "returns", "approves", "comment_required"}, where)
            action = self._code(t.get("action"), f"{where}.action", "动作代码")
            if action is not None and action in seen:
                self.add(f"{where}.action", f"动作「{action}」重复")
            if action == ESCALATE:
                self.add(f"{where}.action", "escalate 是保留字，不能作动作代码")
            label = self._text(t.get("label"), f"{where}.label", "动作名称")
            froms = t.get("from")
            froms_list = [froms] if isinstance(froms, str) else froms
            if not isinstance(froms_list, list) or not froms_list:
                self.add(f"{where}.from", "缺少起始状态（一个或一组状态代码）")
                froms_list = []
            for f in froms_list:
                if f not in states:
                    self.add(f"{where}.from", f"未知状态「{f}」")
            to = t.get("to")
            if to not in states:
                self.add(f"{where}.to", f"未知状态「{to}」")
            who = self._who(t.get("who"), f"{where}.who")
            form = t.get("form")
            if form is not None and not isinstance(form, str):
                self.add(f"{where}.form", "表单应为表单代码")
            elif form and self.known_forms is not None and form not in self.known_forms:
                self.warnings.append(f"{where}.form：表单「{form}」尚未配置，此环节暂不填表")
            tasks = t.get("tasks", [])
            if not isinstance(tasks, list) or not all(isinstance(x, str) for x in tasks):
                self.add(f"{where}.tasks", "应为任务名称列表")
                tasks = []
            for name in tasks:
                if self.known_tasks is not None and name not in self.known_tasks:
                    known = "、".join(sorted(self.known_tasks)) or "无"
                    self.add(f"{where}.tasks", f"未知任务「{name}」（已注册：{known}）")
            approval = self._approval(t.get("approval"), f"{where}.approval") if t.get("approval") else None
            flags = {k: t.get(k, False) for k in ("returns", "approves", "comment_required")}
            for k, v in flags.items():
                if not isinstance(v, bool):
                    self.add(f"{where}.{k}", "应为 true 或 false")
            condition = t.get("condition")
            if condition is not None and not isinstance(condition, str):
                condition = str(condition)
            if action and label and isinstance(to, str) and who is not None:
                seen.add(action)
                out.append(Transition(action, label, tuple(str(f) for f in froms_list), to, who, condition,
                                      form or None, tuple(tasks), approval, bool(flags["approves"]),
                                      bool(flags["returns"]), bool(flags["comment_required"])))
        if not out and not self.problems:
            self.add("transitions", "至少要有一个流转")
        return out

    def _who(self, raw: Any, where: str) -> Who | None:
        if raw is None:
            self.add(where, "缺少办理人（role 和/或 level）")
            return None
        w = self._mapping(raw, where)
        if w is None:
            return None
        self._unknown_keys(w, {"role", "level"}, where)
        role, level = w.get("role"), w.get("level")
        if role is None and level is None:
            self.add(where, "缺少办理人（role 和/或 level）")
            return None
        if role is not None and role not in ROLE_LEVELS:
            self.add(f"{where}.role", f"角色应为 {' / '.join(ROLE_LEVELS)}（得到「{role}」）")
            return None
        if level is not None and level not in LEVELS:
            self.add(f"{where}.level", f"层级应为 {' / '.join(LEVELS)}（得到「{level}」）")
            return None
        if role is not None and level is not None and ROLE_LEVELS[role] != level:
            self.add(where, f"角色「{role}」在{ROLE_LEVELS[role]}一级办理，与 level「{level}」不一致")
            return None
        return Who(role, level)

    def _approval(self, raw: Any, where: str) -> Approval | None:
        a = self._mapping(raw, where)
        if a is None:
            return None
        self._unknown_keys(a, {"parties", "need"}, where)
        parties = a.get("parties")
        if not isinstance(parties, list) or not parties or not all(isinstance(p, str) and p for p in parties):
            self.add(f"{where}.parties", "应为会签单位名称列表，如 [人社局, 计生协会]")
            return None
        if len(set(parties)) != len(parties):
            self.add(f"{where}.parties", "会签单位重复")
        need_raw = a.get("need", "all")
        if need_raw == "all":
            need = len(parties)
        elif isinstance(need_raw, int) and not isinstance(need_raw, bool) and 1 <= need_raw <= len(parties):
            need = need_raw
        else:
            self.add(f"{where}.need", f"应为 all 或 1–{len(parties)} 的整数（得到「{need_raw}」）")
            return None
        return Approval(tuple(parties), need)

    def _check_graph(self, states: list[State], transitions: list[Transition]) -> None:
        if not states:
            return
        if not any(s.final for s in states):
            self.add("states", "没有终止状态（至少一个状态要设 final: true）")
        by_code = {s.code: s for s in states}
        for t in transitions:
            for f in t.from_states:
                if f in by_code and by_code[f].final:
                    self.add(f"transitions「{t.action}」.from", f"「{f}」是终止状态，不能再流转")
        reachable = {states[0].code}
        changed = True
        while changed:
            changed = False
            for t in transitions:
                if t.to not in reachable and any(f in reachable for f in t.from_states):
                    reachable.add(t.to)
                    changed = True
        for s in states:
            if s.code not in reachable:
                self.add(f"states「{s.code}」", f"状态「{s.label}」从起始状态「{states[0].label}」无法到达")
            if not s.final and s.code in reachable and not any(s.code in t.from_states for t in transitions):
                self.add(f"states「{s.code}」", f"状态「{s.label}」不是终止状态，却没有任何流转可以离开")
        actions = {t.action: t for t in transitions}
        for s in states:
            if s.timer is None or s.timer.on_timeout == ESCALATE:
                continue
            timeout = actions.get(s.timer.on_timeout)
            if timeout is None or s.code not in timeout.from_states:
                self.add(f"states「{s.code}」.timer.on_timeout",
                         f"超时动作「{s.timer.on_timeout}」不是从「{s.label}」出发的流转（或写 escalate）")
            elif timeout.approval is not None:
                self.add(f"states「{s.code}」.timer.on_timeout", "超时动作不能是会签流转")

    def _conditions(self, subject: str, fields: list[FieldSpec], transitions: list[Transition]) -> dict[str, Formula]:
        variables = condition_variables(subject, fields)
        out: dict[str, Formula] = {}
        for t in transitions:
            if not t.condition:
                continue
            try:
                formula = compile_formula(t.condition, variables, self.functions)
            except FormulaError as exc:
                self.add(f"transitions「{t.action}」.condition", f"条件公式「{t.condition}」有误：{exc}")
                continue
            if formula.result_type is not FType.BOOL:
                self.add(f"transitions「{t.action}」.condition", f"条件公式「{t.condition}」的结果应为是/否")
                continue
            out[t.action] = formula
        return out

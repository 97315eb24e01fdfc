"""Workflow definitions as data: every mistake is reported with its place, in Chinese (no database)."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path

import pytest
import yaml

from app.workflows.definition import DefinitionInvalid, parse_definition

SHISHI = Path(__file__).resolve().parents[2] / "tenants" / "shishi" / "workflows"

BASE = {
    "code": "demo",
    "name": "演示流程",
    "subject": "person",
    "fields": [{"code": "score", "label": "得分", "type": "number"}],
    "states": [
        {"code": "draft", "label": "起草"},
        {"code": "review", "label": "审核", "timer": {"duration_days": 7, "on_timeout": "pass"}},
        {"code": "done", "label": "完成", "final": True},
    ],
    "transitions": [
        {"action": "submit", "label": "提交", "from": "draft", "to": "review", "who": {"role": "village_worker"}},
        {"action": "pass", "label": "通过", "from": "review", "to": "done", "who": {"level": "town"},
         "condition": "得分 >= 60"},
    ],
}


def problems_of(spec, **kw) -> list[str]:
    with pytest.raises(DefinitionInvalid) as info:
        parse_definition(spec, **kw)
    return info.value.problems


def changed(**edits):
    spec = copy.deepcopy(BASE)
    for path, value in edits.items():
        node = spec
        keys = path.split("__")
        for k in keys[:-1]:
            node = node[int(k)] if k.isdigit() else node[k]
        last = keys[-1]
        node[int(last) if last.isdigit() else last] = value
    return spec


def test_a_valid_definition_parses_into_states_transitions_and_a_compiled_condition():
    d = parse_definition(BASE)
    assert d.initial.code == "draft"
    assert [t.action for t in d.transitions_from("review")] == ["pass"]
    assert d.state("review").timer.due_at(dt.datetime(2025, 3, 1, 9), 2025) == dt.datetime(2025, 3, 8, 9)
    assert d.condition("pass").compute({"score": 75, "age": None, "education": None, "sex": None,
                                        "birth_date": None, "reference_date": None}) is True


def test_unknown_state_in_a_transition_is_located():
    found = problems_of(changed(transitions__1__to="finished"))
    assert any("transitions[1].to" in p and "未知状态「finished」" in p for p in found)


def test_unreachable_state_and_missing_final_state_are_errors():
    spec = changed(states__2__final=False)
    spec["states"].append({"code": "orphan", "label": "孤立"})
    found = problems_of(spec)
    assert any("没有终止状态" in p for p in found)
    assert any("孤立" in p and "无法到达" in p for p in found)


def test_duplicate_action_is_an_error():
    spec = copy.deepcopy(BASE)
    spec["transitions"].append(dict(spec["transitions"][0]))
    assert any("动作「submit」重复" in p for p in problems_of(spec))


def test_bad_condition_formula_is_reported_with_the_formula_error():
    found = problems_of(changed(transitions__1__condition="得分 >= "))
    assert any("transitions「pass」.condition" in p and "得分 >= " in p for p in found)
    found = problems_of(changed(transitions__1__condition="人品 > 3"))
    assert any("未知变量「人品」" in p for p in found)
    found = problems_of(changed(transitions__1__condition="得分 + 1"))
    assert any("结果应为是/否" in p for p in found)


def test_condition_may_use_the_subject_variables_of_a_person():
    d = parse_definition(changed(transitions__1__condition='AND(年龄 >= 25, 学历 >= "初中")'))
    assert set(d.condition("pass").variables_used) == {"age", "education"}


def test_who_must_name_a_known_role_or_level_and_agree():
    assert any("角色应为" in p for p in problems_of(changed(transitions__0__who={"role": "mayor"})))
    assert any("不一致" in p for p in problems_of(changed(transitions__0__who={"role": "town_clerk",
                                                                              "level": "county"})))
    assert any("缺少办理人" in p for p in problems_of(changed(transitions__0__who=None)))


def test_timer_needs_one_of_duration_or_deadline_and_a_valid_timeout_action():
    found = problems_of(changed(states__1__timer={"duration_days": 7, "deadline": "10-31", "on_timeout": "pass"}))
    assert any("二者之一" in p for p in found)
    found = problems_of(changed(states__1__timer={"deadline": "13-40", "on_timeout": "pass"}))
    assert any("月-日" in p for p in found)
    found = problems_of(changed(states__1__timer={"duration_days": 7, "on_timeout": "submit"}))
    assert any("超时动作「submit」" in p for p in found)


def test_deadline_falls_in_the_cycle_year_and_includes_the_day():
    d = parse_definition(changed(states__1__timer={"deadline": "11-15", "on_timeout": "escalate"}))
    assert d.state("review").timer.due_at(dt.datetime(2025, 1, 1), 2025) == dt.datetime(2025, 11, 16)


def test_n_of_m_approval_need_is_checked():
    found = problems_of(changed(transitions__1__approval={"parties": ["人社局", "计生协会"], "need": 3}))
    assert any("need" in p and "1–2" in p for p in found)
    found = problems_of(changed(transitions__1__approval={"parties": ["人社局", "计生协会"]}))
    assert any("超时动作不能是会签流转" in p for p in found)
    d = parse_definition(changed(states__1__timer=None,
                                 transitions__1__approval={"parties": ["人社局", "计生协会", "卫健局"], "need": 2}))
    assert d.transition("pass").approval.need == 2 and d.transition("pass").is_approval


def test_unknown_task_is_an_error_but_unknown_form_only_a_warning():
    spec = changed(transitions__0__tasks=["send_fax"], transitions__1__form="nope")
    found = problems_of(spec, known_tasks={"notify"}, known_forms=set())
    assert any("未知任务「send_fax」" in p and "notify" in p for p in found)
    d = parse_definition(changed(transitions__1__form="nope"), known_forms=set())
    assert any("表单「nope」尚未配置" in w for w in d.warnings)


def test_unknown_keys_are_reported():
    found = problems_of(changed(transitions__0__whom={"role": "town_clerk"}))
    assert any("transitions[0].whom" in p and "未知字段" in p for p in found)


def test_all_problems_are_reported_at_once():
    spec = changed(transitions__0__to="x", transitions__1__condition="(", subject="planet")
    assert len(problems_of(spec)) >= 3


def test_ss5_and_ss7_shishi_definitions_are_valid():
    rec = parse_definition(yaml.safe_load((SHISHI / "recruitment.yaml").read_text(encoding="utf-8")),
                           known_tasks={"notify", "create_appointment"})
    assert rec.state("publicity").timer.duration_days == 7  # SS-5: 7-day 公示
    assert rec.transition("county_approve").approval.parties == ("人社局", "计生协会")
    app_ = parse_definition(yaml.safe_load((SHISHI / "appraisal.yaml").read_text(encoding="utf-8")))
    assert str(app_.state("town_initial").opens) == "10-01"  # SS-7: towns from October
    assert str(app_.state("county_recheck").timer.deadline) == "11-15"  # SS-7: city by mid-November

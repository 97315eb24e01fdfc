"""The workflow designer: check, preview and save a county's workflow definitions from the admin UI.

Why the tenant loader's parser: a definition typed here and one loaded from ``workflows/x.yaml``
must be refused for the same reasons, with the same Chinese messages (here located by line).
Why ``insert_new_versions``: saving is the loader's versioning rule (a changed spec becomes
version n+1, an unchanged one adds nothing), so cases in flight keep the version they started
with while new cases take the new one at once (the engine reads the latest version per start).
Saving over a version someone else saved meanwhile is refused, never merged.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from app.core import designer_base as base
from app.core.designer_base import CheckedBase, DesignerProblems, VersionInfo
from app.core.designer_base import to_yaml as to_yaml  # the designer screens show definitions as YAML
from app.core.errors import ScopeDenied
from app.core.tenancy import current_scope
from app.extensions import db
from app.workflows.definition import Definition, DefinitionInvalid, parse_definition
from app.workflows.models import WorkflowDefinition

NEW_WORKFLOW = """\
code: new_process
name: 新流程
subject: person            # 办理对象：person / village / town / county / group
fields:
  - {code: remark, label: 备注, type: text}
states:
  - {code: draft, label: 村级填报}
  - code: town_review
    label: 镇审核
    timer: {duration_days: 7, on_timeout: escalate}
  - {code: done, label: 已办结, final: true}
  - {code: rejected, label: 未通过, final: true}
transitions:
  - {action: submit, label: 提交, from: draft, to: town_review, who: {role: village_worker}}
  - {action: approve, label: 审核通过, from: town_review, to: done, who: {role: town_clerk}, approves: true}
  - {action: reject, label: 退回, from: town_review, to: draft, who: {role: town_clerk}, returns: true}
  - {action: close, label: 不予办理, from: town_review, to: rejected, who: {role: town_clerk}}
"""
_STEP_RE = re.compile(r"^([^\[「]+)(?:\[(\d+)\]|「([^」]*)」)?$")


class WorkflowDesignerError(DesignerProblems):
    """Nothing was saved; ``problems`` lists every reason in Chinese."""

    subject = "流程定义"


class Checked(CheckedBase[Definition]):
    """What the admin typed, parsed: the definition (None if any problem), every problem, and warnings."""

    @property
    def definition(self) -> Definition | None:
        return self.parsed


# -- checking -------------------------------------------------------------------------------------


def _path_of(where: str, raw: Any) -> tuple[Any, ...]:
    """``transitions[2].to`` / ``states「publicity」.timer`` as a key path into the YAML."""
    path: list[Any] = []
    node = raw
    for step in where.split("."):
        m = _STEP_RE.match(step)
        if not m:
            break
        key, index, code = m.group(1), m.group(2), m.group(3)
        path.append(key)
        node = node.get(key) if isinstance(node, Mapping) else None
        if index is not None:
            path.append(int(index))
            node = node[int(index)] if isinstance(node, list) and int(index) < len(node) else None
        elif code is not None:
            items = node if isinstance(node, list) else []
            found = next((i for i, item in enumerate(items) if isinstance(item, Mapping)
                          and code in (item.get("code"), item.get("action"))), None)
            if found is None:
                break
            path.append(found)
            node = items[found]
    return tuple(path)


def locate(problem: str, raw: Any, lines: Mapping[tuple[Any, ...], int]) -> str:
    """A parser problem (``位置：问题``) prefixed with the line of the deepest key it names."""
    where = problem.split("：", 1)[0] if "：" in problem else ""
    path = _path_of(where, raw) if where else ()
    for n in range(len(path), 0, -1):
        line = lines.get(path[:n])
        if line is not None:
            return f"第{line}行 {problem}"
    return problem


def check(text: str, *, editing: str | None = None) -> Checked:
    """Parse the YAML as the tenant loader does; ``editing``: the code being changed (None: a new workflow)."""
    from app.forms.designer import parse_yaml
    from app.forms.models import FormDefinition
    from app.hooks.formulas import formula_registry
    from app.workflows.tasks import task_handlers

    raw, lines, syntax = parse_yaml(text)
    if syntax:
        return Checked(raw, None, syntax)
    if raw is None:
        return Checked(raw, None, ["定义为空：请填写流程的 YAML"])
    forms = set(db.session.scalars(select(FormDefinition.code).distinct()))
    problems: list[str] = []
    definition: Definition | None = None
    try:
        definition = parse_definition(raw, known_tasks=set(task_handlers()), known_forms=forms,
                                      functions=formula_registry())
    except DefinitionInvalid as exc:
        problems = [locate(p, raw, lines) for p in exc.problems]
    code = raw.get("code") if isinstance(raw, Mapping) else None
    if editing is None and isinstance(code, str) and latest_version(code) is not None:
        problems.append(f"流程代码「{code}」已被本县的另一个流程使用，请换一个代码（要修改那个流程请从列表中打开它）")
    if editing is not None and isinstance(code, str) and code != editing:
        problems.append(f"不能修改流程代码（原为「{editing}」）；要另建流程请用“新建流程”")
    warnings = [locate(w, raw, lines) for w in definition.warnings] if definition else []
    return Checked(raw, None if problems else definition, problems, warnings)


# -- saving ---------------------------------------------------------------------------------------


def latest_version(code: str) -> int | None:
    return base.latest_version(WorkflowDefinition, code)


def save(checked: Checked, *, editing: str | None = None, base_version: int | None = None) -> tuple[int, bool]:
    """Store a checked definition as a new version; returns (latest version, whether one was added).

    Raises :class:`WorkflowDesignerError` (nothing saved) when the text has problems or someone
    saved a newer version since ``base_version`` was opened.
    """
    from app.tenantio.sync import LoadReport, Target, insert_new_versions

    scope = current_scope()
    if scope is None or scope.tenant_id is None or scope.read_only or scope.capture_path is not None:
        raise ScopeDenied("只有县管理员可以修改流程定义")
    if not checked.ok or checked.definition is None:
        raise WorkflowDesignerError(checked.problems or ["定义无效"])
    code = checked.definition.code
    with base.committing(WorkflowDesignerError, "同时有人保存了这个流程，请重新打开后再修改"):
        latest = latest_version(code)
        if editing is None and latest is not None:  # created by someone else since the check
            raise WorkflowDesignerError([f"流程代码「{code}」已被本县的另一个流程使用，请换一个代码"])
        if editing is not None and base.is_stale(latest, base_version):
            raise WorkflowDesignerError([f"流程「{code}」已被他人改为第{latest}版（您打开的是第{base_version}版），"
                                         "请重新打开后再修改"])
        target = Target(db.session.connection(), scope.tenant_id, LoadReport(code))
        added = insert_new_versions(target, WorkflowDefinition.__table__,
                                    [(code, dict(checked.raw), {"name": checked.definition.name,
                                                                "created_by": scope.user_id})])
        if added:  # written with Core, unseen by the flush: the county's audit log says who saved which
            from app.core.audit import record_new_version

            row = spec_of(code)
            assert row is not None
            record_new_version(db.session(), row, entity=WorkflowDefinition.__tablename__, old_version=latest)
    return int(latest_version(code) or 0), bool(added)


# -- listing, versions, diff ------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkflowSummary:
    code: str
    name: str
    subject: str
    version: int
    versions: int
    created_at: Any
    running: int
    """Cases not yet in a final state, over all versions."""


def summaries() -> list[WorkflowSummary]:
    """The county's workflows with their latest version, number of versions and open cases."""
    from app.workflows.models import WorkflowInstance

    t = WorkflowDefinition
    latest = select(t.code, func.max(t.version).label("v"), func.count().label("n")).group_by(t.code).subquery()
    rows = db.session.execute(select(t, latest.c.n).join(latest, (latest.c.code == t.code)
                                                          & (latest.c.v == t.version))).all()
    counts: dict[str, int] = {}
    for code, version, state, n in db.session.execute(
            select(WorkflowInstance.definition_code, WorkflowInstance.definition_version, WorkflowInstance.state,
                   func.count()).group_by(WorkflowInstance.definition_code, WorkflowInstance.definition_version,
                                          WorkflowInstance.state)):
        finals = _final_states(code, version)
        if state not in finals:
            counts[code] = counts.get(code, 0) + int(n)
    out = [WorkflowSummary(r.code, r.name, str(r.spec.get("subject", "person")), r.version, int(n), r.created_at,
                           counts.get(r.code, 0)) for r, n in rows]
    return sorted(out, key=lambda s: s.code)


def _final_states(code: str, version: int) -> set[str]:
    from app.workflows.services import load_definition

    return {s.code for s in load_definition(code, version).states if s.final}


def versions(code: str) -> list[VersionInfo]:
    """Every version of a workflow, newest first, with who saved it (导入: the tenant folder) and when."""
    return base.version_list(WorkflowDefinition, code, lambda _row: "导入")


def spec_of(code: str, version: int | None = None) -> WorkflowDefinition | None:
    """A stored version (latest when None) of the current county's workflow, or None."""
    row: WorkflowDefinition | None = base.stored_version(WorkflowDefinition, code, version)
    return row


@dataclass
class Diff:
    top: list[tuple[str, Any, Any]] = field(default_factory=list)
    """(key, before, after) for name, subject, fields, rules, allow_self_approval."""
    parts: dict[str, tuple[list[Any], list[Any], list[tuple[str, list[tuple[str, Any, Any]]]]]] = \
        field(default_factory=dict)
    """``states`` / ``transitions`` -> (added, removed, [(code, [(key, before, after)])])."""
    text: list[tuple[str, str]] = field(default_factory=list)
    """The YAML of both versions as a unified diff: (kind ``+``/``-``/`` ``/``@``, line)."""

    @property
    def empty(self) -> bool:
        return not self.top and not any(a or r or c for a, r, c in self.parts.values())


def diff_specs(old: Mapping[str, Any], new: Mapping[str, Any]) -> Diff:
    """What changed between two definition dicts: top-level keys, states by code, transitions by action."""
    out = Diff()
    for key in ("name", "subject", "allow_self_approval", "fields", "rules"):
        if old.get(key) != new.get(key):
            out.top.append((key, old.get(key), new.get(key)))
    for part, ident in (("states", "code"), ("transitions", "action")):
        before = {str(i.get(ident)): i for i in old.get(part) or [] if isinstance(i, Mapping)}
        after = {str(i.get(ident)): i for i in new.get(part) or [] if isinstance(i, Mapping)}
        added = [i for k, i in after.items() if k not in before]
        removed = [i for k, i in before.items() if k not in after]
        changed = []
        for k, i in after.items():
            if k in before and before[k] != i:
                keys = list(dict.fromkeys([*before[k], *i]))
                changed.append((k, [(key, before[k].get(key), i.get(key)) for key in keys
                                    if before[k].get(key) != i.get(key)]))
        out.parts[part] = (added, removed, changed)
    lines = difflib.unified_diff(to_yaml(old).splitlines(), to_yaml(new).splitlines(), lineterm="", n=2)
    out.text = [(line[:1] if line[:1] in "+-@" else " ", line) for line in list(lines)[2:]]
    return out


def diff(code: str, a: int, b: int) -> Diff | None:
    return base.diff_versions(spec_of, diff_specs, code, a, b)


def preview_svg(definition: Definition) -> str:
    """The diagram of an unsaved definition (the same drawing as the definitions screen)."""
    from app.workflows.diagram import to_svg

    return to_svg(definition)

"""The ``workflows:`` key of tenant.yaml: read and validated with the folder, versioned when loaded.

Each entry is a definition or ``{file: workflows/x.yaml}``. Every problem is reported with the
file and the place inside the definition; a folder with any problem loads nothing. Loading
inserts a new version only for a new or changed definition (compared as parsed data), so
loading the same folder twice changes nothing and running cases keep their version.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from app.core.yaml_source import read_yaml
from app.tenantio.problems import Problems
from app.tenantio.sync import Target, insert_new_versions
from app.workflows.definition import DefinitionInvalid, parse_definition

MAX_FILE = 1_000_000


def read_workflows(folder: Path, raw: Any, lines: Mapping[tuple[Any, ...], int], problems: Problems,
                   known_forms: Any = None, file: str = "tenant.yaml") -> list[dict[str, Any]]:
    """The valid definitions (as dicts) of the ``workflows:`` list; problems go to ``problems``."""
    from app.hooks.formulas import formula_registry
    from app.workflows.tasks import task_handlers

    if not raw:
        return []
    if not isinstance(raw, list):
        problems.add(file, lines.get(("workflows",)), "workflows",
                     "workflows 应为列表（- code: … 或 - file: workflows/x.yaml）")
        return []
    forms = {str(getattr(f, "code", f.get("code") if isinstance(f, Mapping) else f)) for f in known_forms or ()}
    handlers = set(task_handlers())
    out: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for i, entry in enumerate(raw):
        where, line = file, lines.get(("workflows", i))
        if isinstance(entry, Mapping) and set(entry) == {"file"}:
            entry = _read_file(folder, entry["file"], problems, file, line)
            if entry is None:
                continue
            where, line = str(raw[i]["file"]), None
        try:
            definition = parse_definition(entry, known_tasks=handlers, known_forms=forms,
                                          functions=formula_registry())
        except DefinitionInvalid as exc:
            for p in exc.problems:
                problems.add(where, line, f"workflows[{i}]", f"流程「{exc.code}」{p}")
            continue
        if definition.code in seen:
            problems.add(where, line, f"workflows[{i}].code",
                         f"流程代码「{definition.code}」重复（{seen[definition.code]} 中已有）")
            continue
        seen[definition.code] = where
        out.append(dict(entry))
    return out


def _read_file(folder: Path, name: Any, problems: Problems, file: str, line: int | None) -> Any:
    if not isinstance(name, str) or not name.strip():
        problems.add(file, line, "workflows.file", "file 应为流程文件的相对路径，如 workflows/recruitment.yaml")
        return None
    root = folder.resolve()
    path = (folder / name).resolve()
    if Path(name).is_absolute() or not path.is_relative_to(root):
        problems.add(file, line, "workflows.file", f"流程文件「{name}」必须在租户目录之内")
        return None
    if not path.is_file():
        problems.add(file, line, "workflows.file", f"流程文件「{name}」不存在")
        return None
    if path.stat().st_size > MAX_FILE:
        problems.add(name, None, None, "流程文件太大（最大 1 MB）")
        return None
    doc = read_yaml(path.read_bytes())
    for p in doc.problems:
        problems.add(name, p.line, p.field, p.message)
    return doc.data if doc.readable else None


def sync_workflows(target: Target, definitions: list[dict[str, Any]], user_id: int | None = None) -> int:
    """Insert a new version of every new or changed definition; returns the versions inserted."""
    from app.workflows.models import WorkflowDefinition

    if not definitions:
        return 0
    wanted = [(spec["code"], spec, {"name": spec["name"], "created_by": user_id}) for spec in definitions]
    return insert_new_versions(target, WorkflowDefinition.__table__, wanted)

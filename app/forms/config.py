"""``forms:`` in tenant.yaml: inline form dicts, ``{file: forms/x.yaml}`` or ``{template: pack.id}`` entries.

A template entry copies a plugin pack's definition (``countydesk_register_form_templates``);
``code``/``name`` beside it override the pack's, so one county can use a template twice.

Kept out of ``app.tenantio.config_file`` so that the tenant file parser stays small; its problems
are reported with the other folder problems (file, line and location in the form).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from app.core.yaml_source import read_yaml
from app.forms.definition import DefinitionProblem, FormDef, parse_form
from app.tenantio.problems import Problems

MAX_FORM_FILE = 1_000_000


def read_forms(folder: Path, raw: Any, lines: Mapping[tuple[Any, ...], int], problems: Problems,
               file: str = "tenant.yaml") -> list[FormDef]:
    """Every valid form of the ``forms:`` list; each problem goes to ``problems``."""
    from app.hooks.formulas import formula_registry

    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.add(file, lines.get(("forms",)), "forms", "forms 应为列表（- code: … 或 - file: forms/x.yaml）")
        return []
    registry = formula_registry()
    forms: list[FormDef] = []
    seen: dict[str, str] = {}
    for i, entry in enumerate(raw):
        where_file, where_lines = file, lines
        prefix: tuple[Any, ...] = ("forms", i)
        if isinstance(entry, Mapping) and "template" in entry:
            resolved = _resolve_template(entry, problems, file, lines, prefix)
            if resolved is None:
                continue
            entry = resolved
        elif isinstance(entry, Mapping) and set(entry) == {"file"}:
            loaded = _read_form_file(folder, entry["file"], problems, file, lines.get(prefix))
            if loaded is None:
                continue
            entry, where_lines, where_file = loaded
            prefix = ()
        form, found = parse_form(entry, registry)
        for p in found:
            _report(problems, where_file, where_lines, prefix, p)
        if form is None:
            continue
        if form.code in seen:
            problems.add(where_file, where_lines.get(prefix) or where_lines.get((*prefix, "code")),
                         "code", f"表单代码「{form.code}」重复（{seen[form.code]} 中已有）")
            continue
        seen[form.code] = where_file
        forms.append(form)
    return forms


TEMPLATE_OVERRIDES = ("code", "name")


def form_templates(plugin_manager: Any = None) -> dict[str, dict[str, Any]]:
    """Every form template the installed (allowed) packs register, by id (``village_standard.meeting_minutes``)."""
    pm = plugin_manager
    if pm is None:
        from flask import current_app, has_app_context

        if has_app_context():
            pm = current_app.extensions["countydesk_plugins"]
        else:
            from app.hooks.manager import get_plugin_manager

            pm = get_plugin_manager()
    templates: dict[str, dict[str, Any]] = {}
    for found in pm.hook.countydesk_register_form_templates():
        for item in found or ():
            if isinstance(item, Mapping) and isinstance(item.get("template"), str):
                templates.setdefault(item["template"], dict(item))
    return templates


def _resolve_template(entry: Mapping[str, Any], problems: Problems, file: str,
                      lines: Mapping[tuple[Any, ...], int], prefix: tuple[Any, ...]) -> dict[str, Any] | None:
    """The pack's form dict with the entry's overrides, or None (a located problem) when it cannot be used."""
    line = lines.get((*prefix, "template")) or lines.get(prefix)
    template_id = entry.get("template")
    extra = [k for k in entry if k != "template" and k not in TEMPLATE_OVERRIDES]
    if extra:
        problems.add(file, line, ".".join(str(k) for k in (*prefix, extra[0])),
                     f"模板表单只能改写 code、name，不能有「{'、'.join(str(k) for k in extra)}」"
                     "（要改字段请把模板复制为自己的表单）")
        return None
    templates = form_templates()
    if not isinstance(template_id, str) or template_id not in templates:
        available = "、".join(sorted(templates)) or "（没有安装提供表单模板的插件包）"
        problems.add(file, line, ".".join(str(k) for k in (*prefix, "template")),
                     f"表单模板「{template_id}」不存在；可用的模板：{available}")
        return None
    resolved = {k: v for k, v in templates[template_id].items() if k != "template"}
    resolved.update({k: entry[k] for k in TEMPLATE_OVERRIDES if k in entry})
    return resolved


def _report(problems: Problems, file: str, lines: Mapping[tuple[Any, ...], int], prefix: tuple[Any, ...],
            p: DefinitionProblem) -> None:
    path = (*prefix, *p.path)
    line = None
    for n in range(len(path), 0, -1):
        line = lines.get(path[:n])
        if line is not None:
            break
    problems.add(file, line, ".".join(str(k) for k in path) or None, str(p))


def _read_form_file(folder: Path, name: Any, problems: Problems, file: str,
                    line: int | None) -> tuple[Any, dict[tuple[Any, ...], int], str] | None:
    if not isinstance(name, str) or not name.strip():
        problems.add(file, line, "forms.file", "file 应为表单文件的相对路径，如 forms/monthly.yaml")
        return None
    root = folder.resolve()
    path = (folder / name).resolve()
    if not path.is_relative_to(root) or Path(name).is_absolute():
        problems.add(file, line, "forms.file", f"表单文件「{name}」必须在租户目录之内")
        return None
    if not path.is_file():
        problems.add(file, line, "forms.file", f"表单文件「{name}」不存在")
        return None
    if path.stat().st_size > MAX_FORM_FILE:
        problems.add(name, None, None, "表单文件太大（最大 1 MB）")
        return None
    doc = read_yaml(path.read_bytes())
    for p in doc.problems:
        problems.add(name, p.line, p.field, p.message)
    if not doc.readable:
        return None
    return doc.data, doc.lines, name

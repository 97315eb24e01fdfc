"""``tenant.yaml``: parsed with line numbers and validated by a marshmallow schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from app.orgs.models import ORG_LEVELS
from app.tenantio.problems import Problems

FILE = "tenant.yaml"
_REQ = {"required": "必填", "null": "不能为空", "invalid": "格式不正确"}


def _str(**kw: Any) -> fields.String:
    return fields.String(error_messages=_REQ, **kw)


class PositionSchema(Schema):
    class Meta:
        unknown = RAISE

    code = _str(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_]{1,32}$", error="只能是字母、数字、下划线"))
    name = _str(required=True, validate=validate.Length(min=1, max=128))
    org_level = _str(required=True, validate=validate.OneOf(ORG_LEVELS, error="应为 county/town/village/group"))
    quota = _str(load_default=None, allow_none=True)
    eligibility = _str(load_default=None, allow_none=True)
    term_years = fields.Integer(load_default=None, allow_none=True, strict=True,
                                validate=validate.Range(min=1, max=20, error="应在 1–20 之间"),
                                error_messages={"invalid": "应为整数"})
    rehire_ban_years = fields.Integer(load_default=None, allow_none=True, strict=True,
                                      validate=validate.Range(min=0, max=20, error="应在 0–20 之间"),
                                      error_messages={"invalid": "应为整数"})


class TenantConfigSchema(Schema):
    class Meta:
        unknown = RAISE

    slug = _str(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_-]{1,63}$",
                                                       error="只能是小写字母、数字、-、_，以字母开头"))
    name = _str(required=True, validate=validate.Length(min=1, max=128))
    region = fields.Raw(required=True, error_messages=_REQ)
    locale = _str(load_default="zh")
    positions = fields.List(fields.Nested(PositionSchema, unknown=RAISE), load_default=list)
    packs = fields.Dict(keys=fields.String(), load_default=dict)
    settings = fields.Dict(keys=fields.String(), load_default=dict)


def region_text(value: Any) -> str | None:
    if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
        return "/".join(value)
    if isinstance(value, str) and value.strip():
        return "/".join(p for p in value.strip().split("/") if p)
    return None


def _key_lines(node: Any, prefix: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], int]:
    """Map each key path (``("positions", 0, "quota")``) to its 1-based line in the YAML text."""
    lines: dict[tuple[Any, ...], int] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            path = (*prefix, key.value)
            lines[path] = key.start_mark.line + 1
            lines.update(_key_lines(value, path))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*prefix, i)] = item.start_mark.line + 1
            lines.update(_key_lines(item, (*prefix, i)))
    return lines


def _flatten(messages: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], str]]:
    if isinstance(messages, dict):
        out = []
        for key, value in messages.items():
            out.extend(_flatten(value, (*prefix, key)))
        return out
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [(prefix, "；".join(_zh(m) for m in messages))]
    return [(prefix, str(messages))]


def _zh(message: str) -> str:
    return {"Unknown field.": "未知字段（请检查拼写）", "Not a valid list.": "应为列表",
            "Not a valid mapping type.": "应为映射（key: value）", "Invalid input type.": "类型不正确",
            "Not a valid integer.": "应为整数", "Not a valid string.": "应为文本"}.get(message, message)


def read_config(folder: Path, problems: Problems) -> dict[str, Any] | None:
    path = folder / FILE
    if not path.exists():
        problems.add(FILE, None, None, f"目录 {folder} 中没有 tenant.yaml")
        return None
    text = path.read_text(encoding="utf-8-sig")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        problems.add(FILE, line, None, f"YAML 格式错误：{exc.problem or exc}")
        return None
    if not isinstance(raw, dict):
        problems.add(FILE, 1, None, "内容应为映射（slug: …, name: …）")
        return None
    lines = _key_lines(node)
    try:
        config: dict[str, Any] = TenantConfigSchema().load(raw)
    except ValidationError as exc:
        for key_path, message in _flatten(exc.messages):
            line = lines.get(key_path) or lines.get(key_path[:-1]) or lines.get(key_path[:1])
            problems.add(FILE, line, ".".join(str(k) for k in key_path), message)
        return None
    region = region_text(config["region"])
    if region is None:
        problems.add(FILE, lines.get(("region",)), "region", "应为地区路径，如 福建省/泉州市 或 [福建省, 泉州市]")
        return None
    config["region"] = region
    seen: set[str] = set()
    for i, pos in enumerate(config["positions"]):
        if pos["code"] in seen:
            problems.add(FILE, lines.get(("positions", i)), f"positions.{i}.code", f"岗位代码「{pos['code']}」重复")
        seen.add(pos["code"])
    return config

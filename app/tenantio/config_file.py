"""``tenant.yaml``: parsed with line numbers and validated by a marshmallow schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from app.core.yaml_source import read_yaml
from app.core.yaml_source import yaml_problem_zh as yaml_problem_zh  # kept for older imports
from app.forms.config import read_forms
from app.forms.custom_fields import read_custom_fields
from app.orgs.models import ORG_LEVELS
from app.staffing.rules import REHIRE_BAN_YEARS, TERM_YEARS
from app.tenantio.levels import LEVELS_HINT, normalize_level
from app.tenantio.problems import Problems
from app.workflows.loading import read_workflows

FILE = "tenant.yaml"
MAX_FILE = 2_000_000
_REQ: dict[str, str | list[Any] | dict[Any, Any]] = {
    "required": "必填", "null": "不能为空", "invalid": "格式不正确"}


def _str(**kw: Any) -> fields.String:
    return fields.String(error_messages=_REQ, **kw)


class PositionSchema(Schema):
    class Meta:
        unknown = RAISE

    code = _str(required=True,
                validate=validate.Regexp(r"^[A-Za-z0-9_]{1,32}$", error="只能是字母、数字、下划线"))
    name = _str(required=True, validate=validate.Length(min=1, max=128))
    org_level = _str(required=True, validate=validate.OneOf(ORG_LEVELS, error=f"应为 {LEVELS_HINT}"))
    quota = _str(load_default=None, allow_none=True)
    eligibility = _str(load_default=None, allow_none=True)
    quota_from = fields.Date(load_default=None, allow_none=True, error_messages={"invalid": "应为日期，如 2026-01-01"})
    """When a changed quota formula takes effect; earlier periods keep the version they had."""
    eligibility_from = fields.Date(load_default=None, allow_none=True,
                                   error_messages={"invalid": "应为日期，如 2026-01-01"})
    term_years = fields.Integer(load_default=None, allow_none=True, strict=True,
                                validate=validate.Range(*TERM_YEARS, error="应在 {min}–{max} 之间"),
                                error_messages={"invalid": "应为整数"})
    rehire_ban_years = fields.Integer(load_default=None, allow_none=True, strict=True,
                                      validate=validate.Range(*REHIRE_BAN_YEARS, error="应在 {min}–{max} 之间"),
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
    forms = fields.List(fields.Raw(), load_default=list)
    custom_fields = fields.Raw(load_default=dict)
    workflows = fields.List(fields.Raw(), load_default=list)


def region_text(value: Any) -> str | None:
    if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
        return "/".join(value)
    if isinstance(value, str) and value.strip():
        return "/".join(p for p in value.strip().split("/") if p)
    return None


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
    if not path.is_file():
        problems.add(FILE, None, None, f"目录 {folder} 中没有 tenant.yaml")
        return None
    if path.stat().st_size > MAX_FILE:
        problems.add(FILE, None, None, f"tenant.yaml 太大（最大 {MAX_FILE // 1_000_000} MB），请删减后再试")
        return None
    doc = read_yaml(path.read_bytes())
    for p in doc.problems:
        problems.add(FILE, p.line, p.field, p.message)
    if not doc.readable:
        return None
    raw, lines = doc.data, doc.lines
    if not isinstance(raw, dict):
        problems.add(FILE, 1, None, "内容应为映射（slug: …, name: …）")
        return None
    _normalize_positions(raw)
    try:
        config: dict[str, Any] = TenantConfigSchema().load(raw)
    except ValidationError as exc:
        for key_path, message in _flatten(exc.messages):
            line = lines.get(key_path) or lines.get(key_path[:-1]) or lines.get(key_path[:1])
            problems.add(FILE, line, ".".join(str(k) for k in key_path), message)
        return None
    region = region_text(config["region"])
    if region is None:
        problems.add(FILE, lines.get(("region",)), "region",
                     "应为地区路径，如 福建省/泉州市 或 [福建省, 泉州市]")
        return None
    config["region"] = region
    seen: set[str] = set()
    for i, pos in enumerate(config["positions"]):
        if pos["code"] in seen:
            problems.add(FILE, lines.get(("positions", i)), f"positions.{i}.code",
                         f"岗位代码「{pos['code']}」重复")
        seen.add(pos["code"])
    check_position_formulas(config["positions"], lines, problems)
    check_settings(config["settings"], lines, problems)
    config["forms"] = read_forms(folder, config["forms"], lines, problems)
    config["custom_fields"] = read_custom_fields(config["custom_fields"], lines, problems)
    config["workflows"] = read_workflows(folder, config["workflows"], lines, problems, config["forms"])
    return config


def check_settings(settings: dict[str, Any], lines: dict[tuple[Any, ...], int], problems: Problems) -> None:
    """The county rules kept under ``settings`` are checked at load, not first when a daily check runs."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from app.workflows.appraisal import monthly_scheme
    from app.workflows.appraisal_term import term_end_rule
    from app.workflows.terms import SettingsError, settings_at, term_rule

    zone = settings.get("time_zone")
    if zone is not None:
        try:
            ZoneInfo(str(zone).strip())
        except (ZoneInfoNotFoundError, ValueError):
            problems.add(FILE, lines.get(("settings", "time_zone")), "settings.time_zone",
                         f"未知时区「{zone}」，应为如 Asia/Shanghai 的时区名")
    checks: list[tuple[tuple[str, ...], Any]] = [(("terms",), term_rule), (("appraisal", "term_end"), term_end_rule)]
    if settings_at(settings, "appraisal", "monthly") is not None:
        checks.append((("appraisal", "monthly"), monthly_scheme))
    for keys, parse in checks:
        try:
            parse(settings)
        except SettingsError as exc:
            problems.add(FILE, lines.get(("settings", *keys)), ".".join(("settings", *keys)), exc.message)


def check_position_formulas(positions: list[dict[str, Any]], lines: dict[tuple[Any, ...], int],
                            problems: Problems) -> None:
    """Quota and eligibility formulas are type-checked at load, by the check every door uses."""
    from app.staffing.rules import formula_problem

    for i, pos in enumerate(positions):
        for key in ("quota", "eligibility"):
            message = formula_problem(key, pos.get(key))
            if message:
                problems.add(FILE, lines.get(("positions", i, key)), f"positions.{i}.{key}", message)


def _normalize_positions(raw: dict[str, Any]) -> None:
    """Forgive what a hand-written file naturally contains: ``org_level: 村``, ``quota: 5``."""
    positions = raw.get("positions")
    if not isinstance(positions, list):
        return
    for pos in positions:
        if not isinstance(pos, dict):
            continue
        if isinstance(pos.get("org_level"), str):
            pos["org_level"] = normalize_level(pos["org_level"])
        for key in ("quota", "eligibility"):
            if isinstance(pos.get(key), (int, float)) and not isinstance(pos.get(key), bool):
                pos[key] = str(pos[key])

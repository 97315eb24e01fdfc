"""marshmallow's default messages in Chinese, for every schema of the app (FAB's API schemas included).

Why patch the defaults: FAB builds the API schemas itself, so a 422 said "Missing data for required
field." to a county clerk. Set once, before any schema is built (imported by ``app.core.views``).
"""

from __future__ import annotations

from marshmallow import fields, validate
from marshmallow.schema import Schema

FIELD_MESSAGES = {
    "required": "必填，请填写", "null": "不能为空，请填写", "validator_failed": "值不对，请检查后重试",
    "type": "类型不对，请检查后重试", "invalid_utf8": "不是有效的文本", "too_large": "数字太大，请检查",
    "special": "应为有限的数字", "format": "「{input}」格式不对", "invalid_awareness": "时间格式不对",
    "unknown": "应为以下之一：{choices}",
}
INVALID_BY_FIELD = {
    "String": "应为文本", "Integer": "应为整数", "Number": "应为数字", "Float": "应为数字", "Decimal": "应为数字",
    "Boolean": "应为“是”或“否”（true/false）", "Date": "应为日期，如 2025-03-31",
    "DateTime": "应为日期时间，如 2025-03-31T08:00:00", "List": "应为列表", "Mapping": "应为对象", "Dict": "应为对象",
    "Related": "关联记录不存在，请填写本县已有记录的编号",
}
SCHEMA_MESSAGES = {"type": "数据应为 JSON 对象", "unknown": "未知字段（不能填写这个字段）"}


def _subclasses(cls: type) -> list[type]:
    found: list[type] = []
    sub: type
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def install() -> None:
    """Idempotent; marshmallow-sqlalchemy's ``Related`` is patched too (imported first)."""
    import marshmallow_sqlalchemy  # noqa: F401  (its field classes must exist to be found)

    for cls in [fields.Field, *_subclasses(fields.Field)]:
        own = cls.__dict__.get("default_error_messages")
        if not own:
            continue
        for key in own:
            if key == "invalid":
                own[key] = next((INVALID_BY_FIELD[c.__name__] for c in cls.__mro__ if c.__name__ in INVALID_BY_FIELD),
                                "格式不对，请检查后重试")
            elif key in FIELD_MESSAGES or key.startswith("invalid"):
                own[key] = FIELD_MESSAGES.get(key, "格式不对，请检查后重试")
    Schema._default_error_messages = {**Schema._default_error_messages, **SCHEMA_MESSAGES}
    validate.Length.message_min = "至少 {min} 个字"
    validate.Length.message_max = "最多 {max} 个字，请删减"
    validate.Length.message_all = "应为 {min} 到 {max} 个字"
    validate.Length.message_equal = "应为 {equal} 个字"
    validate.Range.message_min = "不能{min_op} {{min}}"
    validate.Range.message_max = "不能{max_op} {{max}}"
    validate.Range.message_all = "应在 {{min}} 到 {{max}} 之间"
    validate.Range.message_gte, validate.Range.message_gt = "小于", "小于或等于"
    validate.Range.message_lte, validate.Range.message_lt = "大于", "大于或等于"
    validate.OneOf.default_message = "应为以下之一：{choices}"
    validate.Regexp.default_message = "格式不对，请检查后重试"
    validate.Email.default_message = "不是有效的电子邮箱地址"
    validate.URL.default_message = "不是有效的网址"
    validate.Equal.default_message = "应等于 {other}"
    validate.NoneOf.default_message = validate.Predicate.default_message = "值不对，请检查后重试"
    validate.ContainsOnly.default_message = "有选项不在可选范围内：{choices}"
    validate.ContainsNoneOf.default_message = "有选项不允许：{values}"


install()

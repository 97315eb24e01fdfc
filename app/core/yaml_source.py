"""The one reader of configuration YAML (tenant.yaml, form and workflow files, the designers).

Why one bounded reader: configuration comes from people (a folder, a textarea), so a careless or
hostile text must not exhaust the server. An alias bomb ("billion laughs") is tiny as text but
explodes when the parsed data is walked; deep nesting overflows the recursive constructor and every
recursive validator after it. The text's event stream is measured first (iteratively, aliases
counted at their expanded size) and refused with the line, before anything builds a Python object.
Every key path's line is kept, so callers can place each later problem in the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from app.core.encodings import decode_text  # UTF-8 or GBK, as Chinese editors save

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_CHARS = 2_000_000
"""Far above any real configuration (the shipped tenant.yaml files are a few kB)."""
MAX_DEPTH = 30
MAX_NODES = 200_000
"""Scalars and collections, aliases counted at the size of what they repeat."""
MAX_ALIASES = 200
"""The shipped configuration uses none; a handful of ``<<: *defaults`` are welcome, a bomb is not."""

Lines = dict[tuple[Any, ...], int]


@dataclass(frozen=True)
class YamlProblem:
    line: int | None
    field: str | None
    message: str

    def located(self) -> str:
        """The message as one line, ``第N行：…`` when the line is known (the designers show it so)."""
        return f"第{self.line}行：{self.message}" if self.line else self.message


@dataclass
class YamlDocument:
    """The parsed value (None when unreadable), each key path's 1-based line, and every problem."""

    data: Any = None
    lines: Lines = field(default_factory=dict)
    problems: list[YamlProblem] = field(default_factory=list)
    readable: bool = True
    """False when the text could not be parsed at all (then ``data`` is None and ``lines`` empty)."""


class _Refused(Exception):
    def __init__(self, line: int | None, message: str):
        self.line, self.message = line, message


def read_yaml(source: str | bytes, *, max_chars: int = MAX_CHARS) -> YamlDocument:
    """Parse one YAML document within the limits; syntax and limit problems come back, never raise."""
    try:
        text = _decode(source) if isinstance(source, bytes) else source
        if len(text) > max_chars:
            raise _Refused(None, f"内容太长（最多 {max_chars} 个字符），请删减后再试")
        _measure(text)
        node = yaml.compose(text, Loader=_Loader)
        data = SafeConstructor().construct_document(node) if node is not None else None
    except _Refused as exc:
        return YamlDocument(problems=[YamlProblem(exc.line, None, exc.message)], readable=False)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        return _unreadable(line, str(exc.problem or exc))
    except yaml.reader.ReaderError as exc:  # a control character
        return _unreadable(text.count("\n", 0, exc.position) + 1, exc.reason)
    except yaml.YAMLError as exc:
        return _unreadable(None, str(exc))
    except RecursionError:  # limits above make this unreachable in practice; never a traceback
        return YamlDocument(problems=[YamlProblem(None, None, f"嵌套太深（最多 {MAX_DEPTH} 层），请减少层级")],
                            readable=False)
    doc = YamlDocument(data=data)
    _key_lines(node, doc, ())
    return doc


def _decode(raw: bytes) -> str:
    try:
        return decode_text(raw)
    except ValueError as exc:
        raise _Refused(None, str(exc)) from None


def _unreadable(line: int | None, problem: str) -> YamlDocument:
    return YamlDocument(problems=[YamlProblem(line, None, f"YAML 格式错误：{yaml_problem_zh(problem)}")],
                        readable=False)


def _measure(text: str) -> None:
    """Refuse too deep, too many aliases or too many nodes (aliases at expanded size), from the events."""
    depth, nodes, aliases = 0, 0, 0
    size: dict[str, tuple[int, int]] = {}  # anchor -> (nodes, depth) of what it names
    open_: list[tuple[str | None, int, int]] = []  # (anchor, nodes at start, deepest inside)
    for event in yaml.parse(text, Loader=_Loader):
        line = event.start_mark.line + 1 if event.start_mark else None
        if isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise _Refused(line, f"别名（*名称）太多（最多 {MAX_ALIASES} 个），请直接写出内容")
            n, d = size.get(str(event.anchor), (1, 0))
            nodes += n
            reached = depth + d
        elif isinstance(event, yaml.ScalarEvent):
            nodes += 1
            reached = depth
            if event.anchor:
                size[event.anchor] = (1, 0)
        elif isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            nodes += 1
            depth += 1
            reached = depth
            open_.append((event.anchor, nodes, depth))
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            anchor, start, deepest = open_.pop()
            if anchor:
                size[anchor] = (nodes - start + 1, deepest - depth + 1)
            depth -= 1
            if open_:
                open_[-1] = (open_[-1][0], open_[-1][1], max(open_[-1][2], deepest))
            continue
        else:
            continue
        if open_ and reached > open_[-1][2]:
            open_[-1] = (open_[-1][0], open_[-1][1], reached)
        if reached > MAX_DEPTH:
            raise _Refused(line, f"嵌套太深（最多 {MAX_DEPTH} 层），请减少层级")
        if nodes > MAX_NODES:
            raise _Refused(line, f"内容太多（最多 {MAX_NODES} 项，别名按展开后计），请删减后再试")


def _key_lines(node: Any, doc: YamlDocument, prefix: tuple[Any, ...]) -> None:
    """Each key path's line; a repeated key is a problem (YAML would silently keep the last)."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            path = (*prefix, key.value if isinstance(key, yaml.ScalarNode) else repr(key.value))
            line = key.start_mark.line + 1
            if path in doc.lines:
                doc.problems.append(YamlProblem(line, ".".join(str(k) for k in path),
                                                f"键重复（第{doc.lines[path]}行已有）"))
            doc.lines[path] = line
            _key_lines(value, doc, path)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            doc.lines[(*prefix, i)] = item.start_mark.line + 1
            _key_lines(item, doc, (*prefix, i))


_YAML_PROBLEMS = (
    ("mapping values are not allowed", "此处不能出现冒号“:”（冒号后要有空格；值中含冒号时请加引号）"),
    ("could not find expected ':'", "缺少冒号“:”（应为 键: 值）"),
    ("cannot start any token", "含有不允许的字符（如 Tab 缩进，请改用空格）"),
    ("expected <block end>", "缩进不一致（同一层的键要对齐）"),
    ("did not find expected key", "缩进不一致或缺少键名"),
    ("did not find expected '-' indicator", "列表项缩进不一致"),
    ("found unexpected end of stream", "引号或括号没有闭合"),
    ("did not find expected ',' or ']'", "方括号 [...] 中的列表格式不正确"),
    ("did not find expected ',' or '}'", "花括号 {...} 中的映射格式不正确"),
    ("found undefined alias", "引用了未定义的锚点（*名称）"),
    ("found duplicate anchor", "锚点（&名称）重复"),
    ("could not determine a constructor", "不支持的标签（!!…），请去掉"),
    ("found another document", "只能有一个文档，请去掉“---”分隔行"),
    ("control characters are not allowed", "含有不可见的控制字符，请删除"),
    ("exceeded maximum nesting depth", f"嵌套太深（最多 {MAX_DEPTH} 层），请减少层级"),
    ("found unhashable key", "键不能是列表或映射，请改为文字"),
)


def yaml_problem_zh(problem: str) -> str:
    """A parser message in Chinese, the original kept in brackets for whoever looks deeper."""
    for english, chinese in _YAML_PROBLEMS:
        if english in problem:
            return f"{chinese}（{problem}）"
    return f"无法解析（{problem}）"

"""The Excel-like surface syntax: a Lark LALR grammar and the parse step that builds :mod:`.ast` nodes.

Why LALR with an inline transformer: the LALR parser keeps its own stack (no Python recursion),
and the transformer runs at each reduction, so even absurd nesting cannot raise RecursionError;
each node's ``depth`` is computed on the way and the nesting limit is checked right after.

Precedence follows Excel, lowest first: comparison (= <> < <= > >=), ``&``, ``+ -``, ``* /``,
``^`` (left-associative, so ``2^3^2`` = 64), unary minus, postfix ``%``.  As in Excel unary
minus binds tighter than ``^``: ``-2^2`` = 4.  A leading ``=`` (pasted from Excel) is ignored.
Full-width （ ） ， “ ” and ≤ ≥ ≠ typed with a Chinese input method are accepted.
"""

from __future__ import annotations

import functools
import re

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError

from . import ast
from .errors import FormulaError, Pos

GRAMMAR = r"""
?start: expr

?expr: concat
     | expr COMP_OP concat              -> binary

?concat: additive
       | concat AMP additive            -> binary

?additive: multiplicative
         | additive ADD_OP multiplicative -> binary

?multiplicative: power
               | multiplicative MUL_OP power -> binary

?power: unary
      | power POW unary                 -> binary

?unary: postfix
      | ADD_OP unary                    -> unary

?postfix: atom
        | postfix PERCENT               -> percent

?atom: NUMBER                           -> number
     | STRING                           -> string
     | BOOLEAN                          -> boolean
     | NAME                             -> name
     | BRACKETED                        -> name
     | NAME LPAR _arglist? RPAR         -> call
     | LPAR expr RPAR                   -> group

_arglist: expr (_COMMA expr)*

COMP_OP: "<>" | "<=" | ">=" | "=" | "<" | ">" | "≤" | "≥" | "≠"
AMP: "&"
ADD_OP: "+" | "-"
MUL_OP: "*" | "/"
POW: "^"
PERCENT: "%"
LPAR: "(" | "（"
RPAR: ")" | "）"
_COMMA: "," | "，"
NUMBER: /\d+(\.\d*)?|\.\d+/
STRING: /"(?:[^"]|"")*"/ | /“[^”]*”/
BOOLEAN.2: /(?i:true|false)(?!\w)/
NAME: /[^\W\d]\w*/
BRACKETED: /\[[^\[\]\r\n]+\]/
%ignore /[ \t\r\n\u3000]+/
"""

_OP_ALIASES = {"≤": "<=", "≥": ">=", "≠": "<>"}
_TERMINAL_ZH = {
    "RPAR": "右括号「)」",
    "LPAR": "左括号「(」",
    "_COMMA": "逗号",
    "COMMA": "逗号",
    "NUMBER": "数字",
    "STRING": "文本",
    "NAME": "名称",
    "BRACKETED": "名称",
    "BOOLEAN": "TRUE/FALSE",
    "COMP_OP": "比较运算符",
    "ADD_OP": "运算符",
    "MUL_OP": "运算符",
    "POW": "「^」",
    "AMP": "「&」",
    "PERCENT": "「%」",
}
_OPERAND_STARTS = {"NUMBER", "STRING", "NAME", "BRACKETED", "BOOLEAN", "LPAR"}


def _pos(tok: Token) -> Pos:
    return Pos(tok.line or 1, tok.column or 1, tok.start_pos or 0)


class _Builder(Transformer[Token, ast.Node]):
    """Builds :mod:`.ast` nodes at each LALR reduction (called by the parser, not recursively)."""

    def number(self, c: list[Token]) -> ast.Node:
        tok = c[0]
        value = float(tok)
        if value != value or value in (float("inf"), float("-inf")):
            raise FormulaError("数字太大", pos=_pos(tok), kind="syntax")
        return ast.Number(value=value, pos=_pos(tok), start=_pos(tok))

    def string(self, c: list[Token]) -> ast.Node:
        tok = c[0]
        raw = str(tok)
        value = raw[1:-1].replace('""', '"') if raw.startswith('"') else raw[1:-1]
        return ast.String(value=value, pos=_pos(tok), start=_pos(tok))

    def boolean(self, c: list[Token]) -> ast.Node:
        tok = c[0]
        return ast.Boolean(value=str(tok).upper() == "TRUE", pos=_pos(tok), start=_pos(tok))

    def name(self, c: list[Token]) -> ast.Node:
        tok = c[0]
        text = str(tok)
        name = text[1:-1].strip() if tok.type == "BRACKETED" else text
        return ast.Name(name=name, pos=_pos(tok), start=_pos(tok))

    def call(self, c: list[ast.Node | Token]) -> ast.Node:
        name_tok = c[0]
        assert isinstance(name_tok, Token)
        args = tuple(x for x in c[2:-1] if isinstance(x, ast.Node))
        depth = 1 + max((a.depth for a in args), default=0)
        return ast.Call(name=str(name_tok), args=args, pos=_pos(name_tok), start=_pos(name_tok), depth=depth)

    def group(self, c: list[ast.Node | Token]) -> ast.Node:
        lpar, inner = c[0], c[1]
        assert isinstance(lpar, Token) and isinstance(inner, ast.Node)
        return ast.Group(inner=inner, pos=_pos(lpar), start=_pos(lpar), depth=inner.depth + 1)

    def binary(self, c: list[ast.Node | Token]) -> ast.Node:
        left, op, right = c
        assert isinstance(op, Token) and isinstance(left, ast.Node) and isinstance(right, ast.Node)
        text = _OP_ALIASES.get(str(op), str(op))
        depth = 1 + max(left.depth, right.depth)
        return ast.Binary(op=text, left=left, right=right, pos=_pos(op), start=left.start, depth=depth)

    def unary(self, c: list[ast.Node | Token]) -> ast.Node:
        op, operand = c
        assert isinstance(op, Token) and isinstance(operand, ast.Node)
        return ast.Unary(op=str(op), operand=operand, pos=_pos(op), start=_pos(op), depth=operand.depth + 1)

    def percent(self, c: list[ast.Node | Token]) -> ast.Node:
        operand, op = c
        assert isinstance(op, Token) and isinstance(operand, ast.Node)
        return ast.Unary(op="%", operand=operand, pos=_pos(op), start=operand.start, depth=operand.depth + 1)


@functools.cache
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", lexer="contextual", transformer=_Builder(), maybe_placeholders=False)


def parse(text: str, *, max_length: int, max_depth: int) -> ast.Node:
    """Parse ``text`` into an untyped tree; raise :class:`FormulaError` on any problem."""
    if len(text) > max_length:
        raise FormulaError(
            f"公式过长：{len(text)}个字符，最多{max_length}个",
            text=text,
            pos=Pos.at(text, max_length),
            kind="limit",
        )
    if not text.strip():
        raise FormulaError("公式为空", text=text, pos=Pos.at(text, 0), kind="syntax")
    # Excel users paste "=MAX(...)": blank a leading "=" so positions stay the same.
    source = re.sub(r"^(\s*)=", r"\1 ", text, count=1)
    try:
        tree = _parser().parse(source)
    except FormulaError as err:
        raise FormulaError(err.message, text=text, pos=err.pos, kind=err.kind) from None
    except VisitError as err:  # pragma: no cover - Lark wraps callback errors in some versions
        inner = err.orig_exc
        if isinstance(inner, FormulaError):
            raise FormulaError(inner.message, text=text, pos=inner.pos, kind=inner.kind) from None
        raise
    except UnexpectedInput as err:
        raise _syntax_error(text, err) from None
    assert isinstance(tree, ast.Node)
    if tree.depth > max_depth:
        raise FormulaError(
            f"公式嵌套过深：超过{max_depth}层，请拆分或改用 SUM、IFS、BRACKETS 等函数",
            text=text,
            pos=_too_deep(tree, max_depth),
            kind="limit",
        )
    return tree


def _too_deep(root: ast.Node, max_depth: int) -> Pos:
    """Walk down the deepest path (iteratively) to the first node beyond the limit."""
    node = root
    for _ in range(max_depth):
        kids = ast.children(node)
        if not kids:
            break
        node = max(kids, key=lambda k: k.depth)
    return node.pos


def _syntax_error(text: str, err: UnexpectedInput) -> FormulaError:
    if isinstance(err, UnexpectedCharacters):
        offset = err.pos_in_stream or 0
        pos = Pos.at(text, offset)
        ch = text[offset] if offset < len(text) else ""
        if ch in '"“':
            msg = "文本缺少结束引号"
        elif ch == "[":
            msg = "「[」缺少匹配的「]」"
        elif ch == "]":
            msg = "多余的「]」"
        elif ch in ",，":
            msg = "此处不应出现逗号（逗号只用于分隔函数的参数）"
        elif ch in ")）":
            msg = "多余的右括号「)」"
        elif ch == "!" and text[offset + 1 : offset + 2] == "=":
            msg = "不等于请写成「<>」"
        elif ch == "|":
            msg = "「或」请写成 OR(条件1, 条件2)"
        else:
            msg = f"无法识别的字符「{ch}」"
        return FormulaError(msg, text=text, pos=pos, kind="syntax")
    if isinstance(err, UnexpectedToken):
        tok = err.token
        expected = set(err.expected or ())
        if tok.type == "$END":
            end = len(text.rstrip())
            pos = Pos.at(text, end)
            msg = "缺少右括号「)」" if "RPAR" in expected else "公式不完整，末尾缺少内容"
            return FormulaError(msg, text=text, pos=pos, kind="syntax")
        pos = _pos(tok)
        shown = str(tok)
        if tok.type == "RPAR" and "RPAR" not in expected:
            before = text[: tok.start_pos or 0]
            if _count(before, "(（") <= _count(before, ")）"):
                return FormulaError("多余的右括号「)」", text=text, pos=pos, kind="syntax")
        if tok.type == "COMP_OP" and str(tok) == "=" and text[(tok.start_pos or 1) - 1] == "=":
            msg = "等于只需写一个「=」"
        elif tok.type == "AMP" and text[(tok.start_pos or 1) - 1] == "&":
            msg = "「并且」请写成 AND(条件1, 条件2)"
        elif tok.type in ("_COMMA", "COMMA") and expected & _OPERAND_STARTS:
            msg = "缺少参数：逗号前后不能为空"
        elif tok.type in ("_COMMA", "COMMA"):
            msg = "此处不应出现逗号：逗号只用于分隔函数的参数"
        elif tok.type == "LPAR" and not (expected & _OPERAND_STARTS):
            msg = f"此处不应出现「{shown}」：只有函数名后面可以直接跟括号，前面是否缺少运算符？"
        elif expected & _OPERAND_STARTS and not expected - _OPERAND_STARTS - {"ADD_OP"}:
            msg = f"此处不应出现「{shown}」，这里应是数字、文本、变量或函数"
        elif expected & _OPERAND_STARTS:
            msg = f"此处不应出现「{shown}」"
        else:
            msg = f"此处不应出现「{shown}」，前面是否缺少运算符或逗号？"
        return FormulaError(msg, text=text, pos=pos, kind="syntax")
    return FormulaError("公式语法错误", text=text, pos=Pos.at(text, getattr(err, "pos_in_stream", 0) or 0))


def _count(text: str, chars: str) -> int:
    return sum(text.count(c) for c in chars)

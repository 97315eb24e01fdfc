"""Syntax-tree nodes, before and after type checking.

Why two layers: the parser only knows shapes (``Binary('+', …)``), the checker resolves names,
picks a :class:`FunctionSpec` for every operator and call, folds constants and records types.
Both back ends then walk the typed tree only, which has just three node kinds.

Every node carries ``pos`` (the anchor an error points at: the operator, the function name, the
literal) and ``start`` (its leftmost character).  Parsed nodes also carry ``depth`` (computed
while parsing) so the nesting limit is enforced before anything recurses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import Pos
from .types import FType, Variable

if TYPE_CHECKING:
    from .functions import CallSite, FunctionSpec


# ---------------------------------------------------------------- parsed (untyped) nodes
@dataclass(eq=False, slots=True, kw_only=True)
class Node:
    pos: Pos
    start: Pos
    depth: int = 1


@dataclass(eq=False, slots=True, kw_only=True)
class Number(Node):
    value: float


@dataclass(eq=False, slots=True, kw_only=True)
class String(Node):
    value: str


@dataclass(eq=False, slots=True, kw_only=True)
class Boolean(Node):
    value: bool


@dataclass(eq=False, slots=True, kw_only=True)
class Name(Node):
    name: str


@dataclass(eq=False, slots=True, kw_only=True)
class Group(Node):
    """A parenthesised expression; kept so parentheses count towards the nesting limit."""

    inner: Node


@dataclass(eq=False, slots=True, kw_only=True)
class Unary(Node):
    op: str  # "-", "+" or "%" (postfix percent)
    operand: Node


@dataclass(eq=False, slots=True, kw_only=True)
class Binary(Node):
    op: str
    left: Node
    right: Node


@dataclass(eq=False, slots=True, kw_only=True)
class Call(Node):
    name: str
    args: tuple[Node, ...]


def children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Group):
        return (node.inner,)
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, Call):
        return node.args
    return ()


# ---------------------------------------------------------------- typed nodes
@dataclass(eq=False, slots=True, kw_only=True)
class TNode:
    type: FType
    pos: Pos
    start: Pos


@dataclass(eq=False, slots=True, kw_only=True)
class TConst(TNode):
    """A literal or a folded constant; ``value`` is ``None`` for a typed NULL."""

    value: object


@dataclass(eq=False, slots=True, kw_only=True)
class TVar(TNode):
    variable: Variable


@dataclass(eq=False, slots=True, kw_only=True)
class TCall(TNode):
    """A function call or an operator (operators are internal :class:`FunctionSpec` s)."""

    spec: FunctionSpec
    args: tuple[TNode, ...]
    site: CallSite

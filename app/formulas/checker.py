"""Type checker: resolve names, pick a spec for every operator and call, type it, fold constants.

Why at compile time: an admin saving ``IF(人口 > "abc", 1, 2)`` should see the mistake then, with
a position, not when the nightly quota run meets the first village.  The result is a typed
tree (:mod:`.ast` ``TConst``/``TVar``/``TCall``) that both back ends compile without checks.
Recursion here is safe: the parser has already enforced the nesting limit.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from . import ast
from .errors import FormulaError, Pos
from .functions import NOT_CONST, ArgInfo, CallSite, FunctionRegistry, FunctionSpec, TypeCheckError
from .operators import OPERATORS
from .python_backend import fold
from .types import FType, Variable

_UNARY = {"-": "neg", "+": "pos", "%": "%"}


class Checker:
    def __init__(self, text: str, variables: Sequence[Variable], registry: FunctionRegistry):
        self.text = text
        self.registry = registry
        self.used: list[str] = []
        self._names: dict[str, list[Variable]] = {}
        seen: set[str] = set()
        for var in variables:
            if var.code in seen:
                raise ValueError(f"变量代码重复：{var.code}")
            seen.add(var.code)
            for name in {var.code, var.label}:
                if name:
                    self._names.setdefault(name.casefold(), []).append(var)

    def error(self, message: str, pos: Pos, kind: str) -> FormulaError:
        return FormulaError(message, text=self.text, pos=pos, kind=kind)

    def check(self, node: ast.Node) -> ast.TNode:
        if isinstance(node, ast.Number):
            return ast.TConst(type=FType.NUMBER, value=node.value, pos=node.pos, start=node.start)
        if isinstance(node, ast.String):
            return ast.TConst(type=FType.TEXT, value=node.value, pos=node.pos, start=node.start)
        if isinstance(node, ast.Boolean):
            return ast.TConst(type=FType.BOOL, value=node.value, pos=node.pos, start=node.start)
        if isinstance(node, ast.Name):
            return self._variable(node)
        if isinstance(node, ast.Group):
            inner = self.check(node.inner)
            inner.start = node.start
            return inner
        if isinstance(node, ast.Unary):
            return self._call(OPERATORS[_UNARY[node.op]], node, (node.operand,))
        if isinstance(node, ast.Binary):
            return self._call(OPERATORS[node.op], node, (node.left, node.right))
        assert isinstance(node, ast.Call)
        spec = self.registry.get(node.name)
        if spec is None:
            raise self.error(self._unknown_function(node.name), node.pos, "name")
        return self._call(spec, node, node.args)

    def _variable(self, node: ast.Name) -> ast.TNode:
        found = self._names.get(node.name.casefold(), [])
        distinct = {v.code: v for v in found}
        if not distinct:
            raise self.error(self._unknown_variable(node.name), node.pos, "name")
        if len(distinct) > 1:
            codes = "、".join(sorted(distinct))
            raise self.error(
                f"名称「{node.name}」同时指向多个变量（{codes}），请改用变量代码", node.pos, "name"
            )
        var = next(iter(distinct.values()))
        if var.code not in self.used:
            self.used.append(var.code)
        return ast.TVar(type=var.type, variable=var, pos=node.pos, start=node.start)

    def _unknown_variable(self, name: str) -> str:
        message = f"未知变量「{name}」"
        if self.registry.get(name) is not None:
            return message + f"（{name.upper()} 是函数，调用时要加括号）"
        labels = {v.label for vs in self._names.values() for v in vs if v.label}
        labels |= {v.code for vs in self._names.values() for v in vs}
        return message + _suggest(name, labels)

    def _unknown_function(self, name: str) -> str:
        message = f"未知函数「{name}」"
        if name.casefold() in self._names:
            return message + f"（「{name}」是变量，变量后面不能直接跟括号）"
        return message + _suggest(name.upper(), self.registry.names())

    def _call(self, spec: FunctionSpec, node: ast.Node, arg_nodes: Sequence[ast.Node]) -> ast.TNode:
        args = tuple(self.check(a) for a in arg_nodes)
        low, high = spec.arity()
        if len(args) < low or (high is not None and len(args) > high):
            if high is None:
                need = f"至少需要{low}个参数"
            elif low == high:
                need = f"需要{low}个参数"
            else:
                need = f"需要{low}到{high}个参数"
            raise self.error(f"函数 {spec.name} {need}，实际给了{len(args)}个", node.pos, "arity")
        infos = tuple(
            ArgInfo(a.type, a.start, a.value if isinstance(a, ast.TConst) else NOT_CONST) for a in args
        )
        try:
            result = spec.check(infos)
        except TypeCheckError as err:
            pos = infos[err.index].pos if err.index is not None and err.index < len(infos) else node.pos
            raise self.error(err.message, pos, "type") from None
        if not isinstance(result, FType):
            raise TypeError(f"函数 {spec.name} 的类型规则应返回 FType，得到 {result!r}")
        site = CallSite(name=spec.name, text=self.text, pos=node.pos, args=infos, type=result)
        call = ast.TCall(type=result, spec=spec, args=args, site=site, pos=node.pos, start=node.start)
        return fold(call) or call


def _suggest(name: str, candidates: Sequence[str] | set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.5)
    return f"，是不是「{close[0]}」？" if close else ""

"""The public entry point: :func:`compile_formula` and the compiled :class:`Formula`.

Why compile once: a formula is parsed, type-checked and turned into Python closures a single
time (cache the :class:`Formula` beside the rule); evaluating 600k records then costs only the
closure calls, and :meth:`Formula.to_sql` gives the same rule as one set-based SQL expression.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .ast import TNode
from .checker import Checker
from .errors import FormulaError, FormulaRuntimeError
from .functions import FunctionRegistry, PyFn, shared_default_registry
from .grammar import parse
from .python_backend import compile_python
from .sql_backend import compile_sql
from .types import FType, Variable

MAX_LENGTH = 2_000
MAX_DEPTH = 30
_HARD_MAX_DEPTH = 50  # the checker and SQLAlchemy's compiler recurse (~12 frames a level at worst)


@dataclass(slots=True)
class Evaluation:
    """A value and the inputs it was computed from: ``trace`` is ``[(code, label, value), …]``."""

    value: object
    trace: list[tuple[str, str, object]] = field(default_factory=list)


class Formula:
    """A parsed, type-checked formula.  Create it with :func:`compile_formula`."""

    __slots__ = ("_fn", "_trace_keys", "_variables", "result_type", "text", "tree", "variables_used")

    def __init__(
        self, text: str, tree: TNode, variables_used: Sequence[str], variables: Mapping[str, Variable]
    ):
        self.text = text
        self.tree = tree
        self.result_type: FType = tree.type
        self.variables_used: tuple[str, ...] = tuple(variables_used)
        self._variables = variables
        self._fn: PyFn = compile_python(tree, text)
        self._trace_keys = [(code, variables[code].label) for code in self.variables_used]

    def __repr__(self) -> str:
        return f"Formula({self.text!r}, result_type={self.result_type.name})"

    def compute(self, values: Mapping[str, Any]) -> object:
        """The value for one record (keyed by variable code) -- the fast path, without a trace.

        ``None`` inputs propagate as ``None``; a runtime fault raises :class:`FormulaRuntimeError`.
        """
        try:
            value = self._fn(values)
        except FormulaError:
            raise
        except KeyError as err:
            raise self._missing(err) from None
        except (ArithmeticError, ValueError, TypeError) as err:
            raise FormulaRuntimeError(f"计算出错：{err}", text=self.text) from None
        if value.__class__ is float and not math.isfinite(value):  # type: ignore[arg-type]
            raise FormulaRuntimeError("计算结果超出数值范围", text=self.text)
        return value

    def evaluate(self, values: Mapping[str, Any]) -> Evaluation:
        """The value for one record plus the trace of the inputs it used (for "show its inputs")."""
        value = self.compute(values)
        return Evaluation(value, [(code, label, values.get(code)) for code, label in self._trace_keys])

    def compute_many(self, rows: Iterable[Mapping[str, Any]], *, errors: str = "raise") -> Iterator[object]:
        """Values for many records; ``errors="null"`` yields ``None`` for a record that faults."""
        if errors not in ("raise", "null"):
            raise ValueError("errors 应为 'raise' 或 'null'")
        for row in rows:
            try:
                yield self.compute(row)
            except FormulaRuntimeError:
                if errors == "raise":
                    raise
                yield None

    def to_sql(self, columns: Mapping[str, Any]) -> Any:
        """A SQLAlchemy Core expression for the formula; ``columns`` maps variable codes to columns.

        Where :meth:`compute` would raise a runtime fault the SQL expression yields NULL.
        """
        return compile_sql(self.tree, columns, self.text)

    def _missing(self, err: KeyError) -> FormulaError:
        code = err.args[0] if err.args else "?"
        var = self._variables.get(code) if isinstance(code, str) else None
        label = var.label if var else code
        return FormulaError(f"缺少变量「{label}」的值", text=self.text, kind="input")


def compile_formula(
    text: str,
    variables: Sequence[Variable],
    functions: FunctionRegistry | None = None,
    *,
    max_length: int = MAX_LENGTH,
    max_depth: int = MAX_DEPTH,
) -> Formula:
    """Parse and type-check ``text`` against the declared ``variables``; raise :class:`FormulaError`.

    ``functions`` defaults to the builtins (:func:`default_registry` gives a copy to extend).
    """
    if not isinstance(text, str):
        raise FormulaError("公式必须是文本", kind="syntax")
    if not 1 <= max_depth <= _HARD_MAX_DEPTH:
        raise ValueError(f"max_depth 应在 1 到 {_HARD_MAX_DEPTH} 之间")
    variables = list(variables)
    tree = parse(text, max_length=max_length, max_depth=max_depth)
    checker = Checker(text, variables, functions if functions is not None else shared_default_registry())
    typed = checker.check(tree)
    by_code = {v.code: v for v in variables}
    return Formula(text, typed, checker.used, by_code)

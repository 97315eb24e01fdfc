"""Function specs and the registry that plugins extend.

Why specs carry both implementations: a function used in a quota must run per record (Python,
for previews and traces) and set-based (SQL, for a whole county in one statement).  A spec is
declarative: its name, how its arguments are typed, its result type, a Python implementation,
a SQL implementation and a Chinese description for the formula editor's help.

Simple functions give ``python`` (called with argument values) and ``sql`` (called with
SQLAlchemy expressions); with ``propagate_null`` (the default) a ``None`` argument yields
``None`` without calling ``python`` -- the SQL implementation must then also yield NULL, which
SQL arithmetic does by itself.  Builtins that need laziness or compile-time specialisation give
``python_builder``/``sql_builder`` instead, which receive the :class:`CallSite` and the compiled
arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .education import EDUCATION_LEVELS, EDUCATION_RANKS
from .errors import FormulaRuntimeError, Pos
from .types import FType

PyFn = Callable[[Mapping[str, Any]], Any]
"""A compiled Python expression: takes the record (values keyed by variable code)."""


class _NotConst:
    def __repr__(self) -> str:
        return "NOT_CONST"


NOT_CONST: Any = _NotConst()


@dataclass(frozen=True, slots=True)
class ArgInfo:
    """What a type rule knows about one argument: its type, position and constant value if any."""

    type: FType
    pos: Pos
    const: object = NOT_CONST

    @property
    def is_const(self) -> bool:
        return self.const is not NOT_CONST


class TypeCheckError(Exception):
    """Raised by a type rule; ``index`` is the offending argument (``None``: the call itself)."""

    def __init__(self, message: str, index: int | None = None):
        super().__init__(message)
        self.message = message
        self.index = index


TypeRule = Callable[[Sequence[ArgInfo]], FType]


@dataclass(frozen=True, slots=True)
class CallSite:
    """A type-checked call, handed to builders: the argument infos and where to point errors."""

    name: str
    text: str
    pos: Pos
    args: tuple[ArgInfo, ...]
    type: FType

    def fault(self, message: str) -> FormulaRuntimeError:
        return FormulaRuntimeError(message, text=self.text, pos=self.pos)

    def const(self, index: int) -> object:
        return self.args[index].const if index < len(self.args) else NOT_CONST


@dataclass(frozen=True)
class FunctionSpec:
    """A formula function.  ``args`` is a sequence of :class:`FType` or a type rule callable.

    With a sequence, ``returns`` is required; ``min_args`` makes trailing arguments optional and
    ``variadic`` lets the last type repeat.  A type rule receives the :class:`ArgInfo` list and
    returns the result type or raises :class:`TypeCheckError`; give ``min_args``/``max_args``.
    """

    name: str
    args: Sequence[FType] | TypeRule
    returns: FType | None = None
    python: Callable[..., Any] | None = None
    sql: Callable[..., Any] | None = None
    description_zh: str = ""
    min_args: int | None = None
    max_args: int | None = None
    variadic: bool = False
    propagate_null: bool = True
    pure: bool = True
    python_builder: Callable[[CallSite, list[PyFn]], PyFn] | None = None
    sql_builder: Callable[[CallSite, list[Any]], Any] | None = None
    signature_zh: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("函数名不能为空")
        if self.python is None and self.python_builder is None:
            raise ValueError(f"函数 {self.name} 缺少 Python 实现")
        if self.sql is None and self.sql_builder is None:
            raise ValueError(f"函数 {self.name} 缺少 SQL 实现")
        if not callable(self.args):
            object.__setattr__(self, "args", tuple(FType.parse(t) for t in self.args))
            if self.returns is None:
                raise ValueError(f"函数 {self.name} 缺少返回类型")
        if self.returns is not None:
            object.__setattr__(self, "returns", FType.parse(self.returns))

    def arity(self) -> tuple[int, int | None]:
        if callable(self.args):
            return (self.min_args or 0, self.max_args)
        n = len(self.args)
        low = n if self.min_args is None else self.min_args
        return (low, None if self.variadic else n)

    def check(self, infos: Sequence[ArgInfo]) -> FType:
        """Check arity and argument types; return the result type or raise TypeCheckError."""
        low, high = self.arity()
        n = len(infos)
        if n < low or (high is not None and n > high):
            raise TypeCheckError(f"函数 {self.name} {_arity_text(low, high)}，实际给了{n}个")
        if callable(self.args):
            return self.args(infos)
        types = self.args
        assert isinstance(types, tuple)
        for i, info in enumerate(infos):
            expect(info, types[min(i, len(types) - 1)], i)
        assert self.returns is not None
        return self.returns


def _arity_text(low: int, high: int | None) -> str:
    if high is None:
        return f"至少需要{low}个参数"
    if low == high:
        return f"需要{low}个参数"
    return f"需要{low}到{high}个参数"


# ---------------------------------------------------------------- type helpers for rules
def _known_level(info: ArgInfo) -> bool:
    return info.type is FType.TEXT and info.is_const and (info.const is None or info.const in EDUCATION_RANKS)


def _level_error(info: ArgInfo, index: int) -> TypeCheckError:
    if info.is_const and isinstance(info.const, str):
        return TypeCheckError(f"「{info.const}」不是已知学历（可用：{'、'.join(EDUCATION_LEVELS)}）", index)
    return TypeCheckError('学历只能与学历字段或学历文字（如 "高中"）比较', index)


def expect(info: ArgInfo, wanted: FType, index: int, what: str | None = None) -> None:
    """Require ``info`` to be of type ``wanted`` (a known level text literal passes as EDUCATION)."""
    if info.type is wanted:
        return
    if wanted is FType.EDUCATION and info.type is FType.TEXT:
        if _known_level(info):
            return
        raise _level_error(info, index)
    label = what or f"第{index + 1}个参数"
    raise TypeCheckError(f"{label}应为{wanted.zh}，实际是{info.type.zh}", index)


def unify(infos: Sequence[ArgInfo], indexes: Sequence[int], what: str = "参数") -> FType:
    """The common type of the given arguments (TEXT literals naming a level join EDUCATION)."""
    chosen = [infos[i] for i in indexes]
    types = {a.type for a in chosen}
    if len(types) == 1:
        return chosen[0].type
    if types == {FType.EDUCATION, FType.TEXT}:
        for i in indexes:
            if infos[i].type is FType.TEXT and not _known_level(infos[i]):
                raise _level_error(infos[i], i)
        return FType.EDUCATION
    first = chosen[0]
    for i in indexes:
        if infos[i].type is not first.type:
            raise TypeCheckError(f"{what}类型不一致：一个是{first.type.zh}，一个是{infos[i].type.zh}", i)
    raise AssertionError("unreachable")  # pragma: no cover


# ---------------------------------------------------------------- registry
class FunctionRegistry:
    """Functions by case-insensitive name.  :func:`default_registry` gives a fresh copy with builtins."""

    def __init__(self, specs: Sequence[FunctionSpec] = ()):
        self._specs: dict[str, FunctionSpec] = {}
        for spec in specs:
            self.register(spec)

    def register(self, spec: FunctionSpec, *, replace: bool = False) -> None:
        """Add a function (plugins call this); a duplicate name is an error unless ``replace``."""
        if not isinstance(spec, FunctionSpec):
            raise TypeError(f"需要 FunctionSpec，得到 {type(spec).__name__}")
        key = spec.name.upper()
        if key in self._specs and not replace:
            raise ValueError(f"函数 {spec.name} 已经注册")
        self._specs[key] = spec

    def get(self, name: str) -> FunctionSpec | None:
        return self._specs.get(name.upper())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.upper() in self._specs

    def __iter__(self) -> Iterator[FunctionSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def names(self) -> list[str]:
        return sorted(self._specs)

    def copy(self) -> FunctionRegistry:
        return FunctionRegistry(list(self._specs.values()))


_DEFAULT: FunctionRegistry | None = None


def shared_default_registry() -> FunctionRegistry:
    """The builtins, shared and read-only by convention (used when no registry is passed)."""
    global _DEFAULT
    if _DEFAULT is None:
        from .builtin_dates import DATE_FUNCTIONS
        from .builtin_logic import LOGIC_FUNCTIONS
        from .builtin_math import MATH_FUNCTIONS

        _DEFAULT = FunctionRegistry([*LOGIC_FUNCTIONS, *MATH_FUNCTIONS, *DATE_FUNCTIONS])
    return _DEFAULT


def default_registry() -> FunctionRegistry:
    """A new registry holding the builtins; register plugin functions into it."""
    return shared_default_registry().copy()

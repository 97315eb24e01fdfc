"""The formula language: Excel-like rules that are data (DESIGN §5).

``compile_formula(text, variables)`` parses (Lark, never ``eval``) and type-checks a formula
against declared :class:`Variable` s; the resulting :class:`Formula` evaluates one record in
Python (``evaluate``/``compute``) or compiles to one SQLAlchemy expression (``to_sql``) for
set-based computation, with identical results.  Functions come from a :class:`FunctionRegistry`
that plugins extend with :class:`FunctionSpec` s.  See ``README.md`` in this package for the
language reference and the NULL/error semantics.
"""

from .education import EDUCATION_LEVELS, EDUCATION_RANKS, education_rank, is_education_level
from .errors import FormulaError, FormulaRuntimeError, Pos
from .formula import MAX_DEPTH, MAX_LENGTH, Evaluation, Formula, compile_formula
from .functions import (
    ArgInfo,
    CallSite,
    FunctionRegistry,
    FunctionSpec,
    TypeCheckError,
    default_registry,
    expect,
    unify,
)
from .types import FType, Variable

__all__ = [
    "EDUCATION_LEVELS",
    "EDUCATION_RANKS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "ArgInfo",
    "CallSite",
    "Evaluation",
    "FType",
    "Formula",
    "FormulaError",
    "FormulaRuntimeError",
    "FunctionRegistry",
    "FunctionSpec",
    "Pos",
    "TypeCheckError",
    "Variable",
    "compile_formula",
    "default_registry",
    "education_rank",
    "expect",
    "is_education_level",
    "unify",
]

"""The function registry: builtins, and plugin functions that work in both back ends."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.formulas import (
    FormulaError,
    FormulaRuntimeError,
    FType,
    FunctionRegistry,
    FunctionSpec,
    TypeCheckError,
    compile_formula,
    default_registry,
)

BUILTINS = {
    "IF",
    "IFS",
    "AND",
    "OR",
    "NOT",
    "MIN",
    "MAX",
    "SUM",
    "ROUND",
    "ROUNDUP",
    "ROUNDDOWN",
    "CEILING",
    "FLOOR",
    "ABS",
    "BRACKETS",
    "IFBLANK",
    "ISBLANK",
    "DATE",
    "YEARS",
}


def clamp_spec() -> FunctionSpec:
    """A plugin-style function: CLAMP(x, low, high) keeps x within [low, high]."""
    return FunctionSpec(
        "CLAMP",
        (FType.NUMBER, FType.NUMBER, FType.NUMBER),
        FType.NUMBER,
        python=lambda x, low, high: min(max(x, low), high),
        sql=lambda x, low, high: sa.case((x < low, low), (x > high, high), else_=x),
        description_zh="把数值限制在上下限之间",
    )


def test_default_registry_holds_the_builtins_and_describes_them():
    registry = default_registry()
    assert set(registry.names()) == BUILTINS
    for spec in registry:
        assert spec.description_zh and spec.signature_zh, spec.name
    assert "max" in registry and registry.get("Max") is registry.get("MAX")


def test_default_registry_returns_independent_copies():
    first = default_registry()
    first.register(clamp_spec())
    assert "CLAMP" in first
    assert "CLAMP" not in default_registry()
    with pytest.raises(FormulaError, match="未知函数「CLAMP」"):
        compile_formula("CLAMP(1, 2, 3)", [])


def test_custom_function_in_both_back_ends(variables, formula_db):
    registry = default_registry()
    registry.register(clamp_spec())
    f = compile_formula("clamp(CEILING(计生常住人口 / 1500), 1, 2)", variables, registry)
    rows = [{"resident_pop": p} for p in (0, 800, 1501, 3200, 9000, None)]
    expected = [1.0, 1.0, 2.0, 2.0, 2.0, None]
    assert [f.compute(r) for r in rows] == expected
    assert formula_db.sql_values(f, rows) == expected


def test_custom_function_arguments_are_type_checked(variables):
    registry = default_registry()
    registry.register(clamp_spec())
    with pytest.raises(FormulaError) as info:
        compile_formula('CLAMP(年龄, "1", 2)', variables, registry)
    assert info.value.message == "第2个参数应为数字，实际是文本"
    assert info.value.column == 11
    with pytest.raises(FormulaError, match="函数 CLAMP 需要3个参数，实际给了2个"):
        compile_formula("CLAMP(年龄, 1)", variables, registry)
    # constant arguments are folded through the plugin's Python implementation
    assert compile_formula("CLAMP(5, 1, 2)", variables, registry).tree.value == 2.0  # type: ignore[attr-defined]


def test_custom_function_with_a_type_rule(variables, formula_db):
    """TWICE(x) doubles a number or repeats a text: the rule decides the result type."""

    def rule(args):
        if args[0].type not in (FType.NUMBER, FType.TEXT):
            raise TypeCheckError("TWICE 需要数字或文本", 0)
        return args[0].type

    def py(x):
        return x * 2 if isinstance(x, float) else x + x

    def sql(x):
        return x * 2 if isinstance(x.type, sa.Double) else x.concat(x)

    registry = FunctionRegistry()
    registry.register(FunctionSpec("TWICE", rule, python=py, sql=sql, min_args=1, max_args=1))
    number = compile_formula("TWICE(年龄)", variables, registry)
    text = compile_formula("TWICE(姓名)", variables, registry)
    assert number.result_type is FType.NUMBER and text.result_type is FType.TEXT
    row = {"age": 21, "name": "李"}
    assert number.compute(row) == 42.0 and text.compute(row) == "李李"
    assert formula_db.sql_values(number, [row]) == [42.0]
    assert formula_db.sql_values(text, [row]) == ["李李"]
    with pytest.raises(FormulaError, match="TWICE 需要数字或文本"):
        compile_formula("TWICE(条件甲)", variables, registry)
    with pytest.raises(FormulaError, match="未知函数「MAX」"):
        compile_formula("MAX(1, 2)", variables, registry)  # an empty registry has no builtins


def test_plugin_errors_become_positioned_runtime_errors(variables):
    registry = default_registry()
    registry.register(
        FunctionSpec(
            "INV",
            (FType.NUMBER,),
            FType.NUMBER,
            python=lambda x: 1 / x,
            sql=lambda x: 1.0 / sa.func.nullif(x, 0.0),
        )
    )
    f = compile_formula("1 + INV(年龄)", variables, registry)
    assert f.compute({"age": 4}) == 1.25
    with pytest.raises(FormulaRuntimeError) as info:
        f.compute({"age": 0})
    assert info.value.column == 5
    assert "INV" in info.value.message
    # like any fault, IFBLANK absorbs it
    assert compile_formula("IFBLANK(INV(年龄), 0)", variables, registry).compute({"age": 0}) == 0.0


def test_function_without_null_propagation_sees_none(variables):
    registry = default_registry()
    registry.register(
        FunctionSpec(
            "ZERO_IF_BLANK",
            (FType.NUMBER,),
            FType.NUMBER,
            propagate_null=False,
            python=lambda x: 0.0 if x is None else x,
            sql=lambda x: sa.func.coalesce(x, 0.0),
        )
    )
    f = compile_formula("ZERO_IF_BLANK(年龄) + 1", variables, registry)
    assert f.compute({"age": None}) == 1.0


def test_registration_rules():
    registry = default_registry()
    registry.register(clamp_spec())
    with pytest.raises(ValueError, match="已经注册"):
        registry.register(clamp_spec())
    registry.register(clamp_spec(), replace=True)
    with pytest.raises(TypeError):
        registry.register("CLAMP")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="缺少 SQL 实现"):
        FunctionSpec("X", (FType.NUMBER,), FType.NUMBER, python=abs)
    with pytest.raises(ValueError, match="缺少返回类型"):
        FunctionSpec("X", (FType.NUMBER,), python=abs, sql=abs)
    assert FunctionSpec("X", ("number",), "NUMBER", python=abs, sql=abs).returns is FType.NUMBER

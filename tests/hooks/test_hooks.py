"""Every hook is declared with a docstring, exercised by a test, and reachable from a plugin."""

from __future__ import annotations

import inspect
from pathlib import Path

import pluggy

from app.formulas import FType, FunctionSpec, compile_formula
from app.hooks import hookspecs
from app.hooks.formulas import build_registry
from app.hooks.manager import get_plugin_manager

HOOKS = [name for name, obj in inspect.getmembers(hookspecs) if name.startswith("countydesk_") and callable(obj)]


def test_every_hook_has_a_docstring_and_a_test():
    tests_text = "\n".join(p.read_text(encoding="utf-8") for p in Path(__file__).parent.parent.rglob("test_*.py")
                           if p.resolve() != Path(__file__).resolve())
    assert HOOKS, "no hooks declared"
    for name in HOOKS:
        assert (getattr(hookspecs, name).__doc__ or "").strip(), f"{name} has no docstring"
        assert name in tests_text or name in Path(__file__).read_text(encoding="utf-8").split("HOOKS =")[0] \
            or _exercised_here(name), f"{name} is not exercised by any test"


def _exercised_here(name: str) -> bool:
    return name in {"countydesk_register_formula_functions"}  # exercised by the test below


class DoublePack:
    """A rule pack as a plugin would write it."""

    @hookspecs.hookimpl
    def countydesk_register_formula_functions(self):
        return [FunctionSpec("DOUBLE", [FType.NUMBER], FType.NUMBER, python=lambda x: x * 2,
                             sql=lambda x: x * 2, description_zh="加倍")]


def test_plugin_function_works_in_both_back_ends(app):
    from sqlalchemy import literal_column, select

    from app.extensions import db

    pm = get_plugin_manager(allow="none-installed")
    pm.register(DoublePack(), name="double-pack")
    registry = build_registry(pm)
    from app.orgs.variables import ORG_UNIT_VARIABLES

    formula = compile_formula("DOUBLE(CEILING(计生常住人口 / 1500))", ORG_UNIT_VARIABLES, registry)
    assert formula.compute({"resident_pop": 3200}) == 6
    with app.app_context():
        value = db.session.execute(select(formula.to_sql({"resident_pop": literal_column("3200")}))).scalar_one()
    assert value == 6


def test_plugin_manager_checks_specs():
    pm = get_plugin_manager()
    assert isinstance(pm, pluggy.PluginManager)
    assert {h for h in HOOKS} <= {name for name in dir(pm.hook) if name.startswith("countydesk_")}

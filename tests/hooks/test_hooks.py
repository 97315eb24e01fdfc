"""A plugin reaches every hook (the meta-test of docstrings and tests: test_hookspecs_documented.py)."""

from __future__ import annotations

import inspect

import pluggy

from app.formulas import FType, FunctionSpec, compile_formula
from app.hooks import hookspecs
from app.hooks.formulas import build_registry
from app.hooks.manager import get_plugin_manager

HOOKS = [name for name, obj in inspect.getmembers(hookspecs) if name.startswith("countydesk_") and callable(obj)]


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

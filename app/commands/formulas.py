"""``countydesk formula check|eval``: try a formula the way the tenant loader and the screens will."""

from __future__ import annotations

from typing import Any

import click

from app.cli import with_light_appcontext

TARGETS = ("village", "town", "county", "person")
EXPRESSION_ARGS = {"ignore_unknown_options": True}
"""A formula may start with a minus (``-1 + 2``): as typed, it is the expression, not an unknown option."""


def _variables(target: str) -> tuple[Any, ...]:
    from app.orgs.variables import ORG_UNIT_VARIABLES
    from app.staffing.variables import PERSON_VARIABLES

    return PERSON_VARIABLES if target == "person" else ORG_UNIT_VARIABLES


def _compile(expr: str, target: str) -> Any:
    from app.formulas import FormulaError, compile_formula
    from app.hooks.formulas import formula_registry

    try:
        return compile_formula(expr, _variables(target), formula_registry())
    except FormulaError as exc:
        raise click.ClickException(f"{exc}\n{exc.caret}") from exc


@click.group("formula")
def formula_group() -> None:
    """公式检查与试算"""


@formula_group.command("check", context_settings=EXPRESSION_ARGS)
@click.argument("expr", nargs=-1, required=True)
@click.option("--tenant", "slug", help="在该县的组织机构上预览结果（最多 10 个）")
@click.option("--on", "target", type=click.Choice(TARGETS), default="village", show_default=True,
              help="公式作用的对象")
@click.option("--period", default=None, help="预览用的人口数据期间（默认最新）")
@with_light_appcontext(needs_database=lambda options: bool(options.get("slug")))
def check_command(expr: tuple[str, ...], slug: str | None, target: str, period: str | None) -> None:
    """检查公式：语法、变量与类型；给出 --tenant 时在真实单位上预览。"""
    formula = _compile(" ".join(expr), target)
    click.echo(f"公式正确，结果类型：{formula.result_type.zh}；使用变量：{'、'.join(formula.variables_used) or '无'}")
    if slug and target != "person":
        for line in _preview(formula, slug, target, period):
            click.echo(line)


def _preview(formula: Any, slug: str, level: str, period: str | None) -> list[str]:
    from sqlalchemy import select

    from app.core.models import Tenant
    from app.core.tenancy import tenant_context
    from app.extensions import db
    from app.formulas import FormulaError
    from app.orgs.models import POPULATION_FIELDS, OrgUnit, PopulationFact

    tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise click.ClickException(f"县（租户）「{slug}」不存在")
    with tenant_context(tenant.id):
        if period is None:
            period = db.session.scalar(select(PopulationFact.period).order_by(PopulationFact.period.desc()))
        rows = db.session.execute(
            select(OrgUnit.code, OrgUnit.name, *[getattr(PopulationFact, f) for f in POPULATION_FIELDS])
            .join(PopulationFact, (PopulationFact.org_unit_id == OrgUnit.id) & (PopulationFact.period == period))
            .where(OrgUnit.level == level).order_by(OrgUnit.path).limit(10)).all()
    lines = [f"预览（{tenant.name}，{period}）："]
    for code, name, *values in rows:
        try:
            value = formula.compute(dict(zip(POPULATION_FIELDS, values, strict=True)))
        except FormulaError as exc:
            value = f"错误：{exc.message}"
        lines.append(f"  {code} {name}: {_show(value)}")
    return lines


@formula_group.command("eval", context_settings=EXPRESSION_ARGS)
@click.argument("expr", nargs=-1, required=True)
@click.option("--var", "pairs", multiple=True, help="变量取值，如 --var 计生常住人口=3200（可用代码或中文名）")
@click.option("--on", "target", type=click.Choice(TARGETS), default="village", show_default=True)
@with_light_appcontext()
def eval_command(expr: tuple[str, ...], pairs: tuple[str, ...], target: str) -> None:
    """按给定变量值计算公式，并列出用到的输入。"""
    import datetime as dt

    from app.formulas import FormulaError, FType

    formula = _compile(" ".join(expr), target)
    by_name = {v.code: v for v in _variables(target)} | {v.label: v for v in _variables(target)}
    values: dict[str, object] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        var = by_name.get(name.strip())
        if not sep or var is None:
            known = "、".join(sorted(by_name))
            raise click.ClickException(f"无法识别的变量取值「{pair}」，应为 名称=值，名称可用：{known}")
        try:
            values[var.code] = (float(raw) if var.type is FType.NUMBER else
                                dt.date.fromisoformat(raw) if var.type is FType.DATE else raw)
        except ValueError as exc:
            raise click.ClickException(f"变量「{name}」的值「{raw}」格式不对") from exc
    try:
        result = formula.evaluate(values)
    except FormulaError as exc:
        raise click.ClickException(f"{exc}\n{exc.caret}") from exc
    click.echo(f"结果：{_show(result.value)}")
    for code, label, used in result.trace:
        click.echo(f"  {label}（{code}）= {_show(used)}")


def _show(value: object) -> object:
    return int(value) if isinstance(value, float) and value.is_integer() else value

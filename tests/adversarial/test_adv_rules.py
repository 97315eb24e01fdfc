"""Hostile input to the county's rules and configuration: tenant folders, YAML, formulas, the formula CLI.

Each case asserts what a user would see: a refusal in Chinese naming what to fix, no traceback, in
bounded time (and memory where the attack is memory), and the county's data exactly as before.
"""

from __future__ import annotations

import re
import shutil
import time
import tracemalloc
from pathlib import Path

import pytest

from app.tenantio.loader import load_tenant_folder
from app.tenantio.problems import TenantFolderInvalid
from support import TENANTS, database_digest

BUDGET = 10.0  # seconds per case: generous, a hang or a blow-up is minutes
MEMORY = 64 * 1024 * 1024  # bytes of peak Python allocation while refusing one hostile text
CHINESE = re.compile(r"[\u4e00-\u9fff]")

BOMB = "\n".join(["a: &a [x, x, x, x, x, x, x, x, x, x]"]
                 + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]" for i in range(8)])
"""Billion laughs: ten aliases of the line before, nine levels deep (10⁹ scalars once expanded)."""
DEEP_BLOCK = "- " * 3000 + "x\n"
DEEP_FLOW = "[" * 900 + "]" * 900 + "\n"
HOSTILE_YAML = {"alias_bomb": BOMB, "deep_block": DEEP_BLOCK, "deep_flow": DEEP_FLOW,
                "many_aliases": "a: &a 1\nb: [" + ", ".join(["*a"] * 1000) + "]\n"}


def _copy(slug: str, dest: Path, new_slug: str | None = None) -> Path:
    shutil.copytree(TENANTS / slug, dest)
    if new_slug:
        cfg = dest / "tenant.yaml"
        text = cfg.read_text(encoding="utf-8")
        cfg.write_text(re.sub(r"(?m)^slug: \S+", f"slug: {new_slug}", text, count=1), encoding="utf-8")
    return dest


@pytest.fixture(scope="module")
def county(app, tmp_path_factory):
    """A copy of the small demo county under its own slug: the tests here may try to wreck it."""
    folder = _copy("shishi", tmp_path_factory.mktemp("adv_rules") / "own", "adv_rules")
    with app.app_context():
        tenant_id = load_tenant_folder(folder).tenant_id
    return {"folder": folder, "tenant_id": tenant_id}




def _refused_load(app, folder: Path, tenant_id: int) -> TenantFolderInvalid:
    before = database_digest(app, tenant_id)
    started = time.monotonic()
    with app.app_context(), pytest.raises(TenantFolderInvalid) as caught:
        load_tenant_folder(folder)
    assert time.monotonic() - started < BUDGET
    assert database_digest(app, tenant_id) == before
    for problem in caught.value.problems:
        assert CHINESE.search(problem.message), problem
    return caught.value


# -- 1. a folder must not overwrite another county ------------------------------------------------

def test_another_countys_folder_under_this_slug_is_refused_with_the_diff(app, run, county, tmp_path):
    foreign = _copy("guanling", tmp_path / "foreign", "adv_rules")
    before = database_digest(app, county["tenant_id"])
    result = run("tenant", "load", str(foreign))
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "石狮市 → 关岭" in result.output  # name 旧 → 新
    assert "地区" in result.output and "福建省/泉州市 → " in result.output
    assert "根单位" in result.output and "350581 → 520424" in result.output
    assert "--rename" in result.output
    assert database_digest(app, county["tenant_id"]) == before


def test_a_second_root_in_an_existing_county_is_refused(app, county, tmp_path):
    folder = _copy("shishi", tmp_path / "second_root", "adv_rules")
    shutil.copy(TENANTS / "guanling" / "orgunits.csv", folder / "orgunits.csv")
    shutil.copy(TENANTS / "guanling" / "population.csv", folder / "population.csv")
    roster = folder / "roster.csv"  # no one placed in the other tree: only the root is at issue
    roster.write_text(roster.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    exc = _refused_load(app, folder, county["tenant_id"])
    root = [p for p in exc.problems if "根单位" in p.message]
    assert root and root[0].file.startswith("orgunits") and root[0].line is not None


def test_a_rename_loads_only_when_asked_for(app, run, county, tmp_path):
    folder = _copy("shishi", tmp_path / "renamed", "adv_rules")
    cfg = folder / "tenant.yaml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("name: 石狮市", "name: 石狮市（新）", 1), encoding="utf-8")
    before = database_digest(app, county["tenant_id"])
    refused = run("tenant", "load", str(folder))
    assert refused.exit_code == 1 and "石狮市 → 石狮市（新）" in refused.output
    assert database_digest(app, county["tenant_id"]) == before
    try:
        accepted = run("tenant", "load", "--rename", str(folder))
        assert accepted.exit_code == 0, accepted.output
        assert "tenant 更新 1" in accepted.output
    finally:  # the module's county keeps its name for the other tests
        assert run("tenant", "load", "--rename", str(county["folder"])).exit_code == 0


# -- 2. resource exhaustion in YAML ----------------------------------------------------------------

@pytest.mark.parametrize("kind", sorted(HOSTILE_YAML))
def test_hostile_tenant_yaml_is_refused_in_bounded_time_and_memory(app, county, tmp_path, kind):
    folder = _copy("shishi", tmp_path / kind, "adv_rules")
    cfg = folder / "tenant.yaml"
    cfg.write_text(cfg.read_text(encoding="utf-8") + "\nextra:\n" + _indented(HOSTILE_YAML[kind]),
                   encoding="utf-8")
    tracemalloc.start()
    try:
        exc = _refused_load(app, folder, county["tenant_id"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MEMORY
    assert exc.problems[0].file == "tenant.yaml" and exc.problems[0].line is not None


@pytest.mark.parametrize("kind", sorted(HOSTILE_YAML))
@pytest.mark.parametrize("subfolder", ["forms", "workflows"])
def test_hostile_form_and_workflow_files_are_refused_with_their_name(app, county, tmp_path, kind, subfolder):
    folder = _copy("shishi", tmp_path / f"{subfolder}_{kind}", "adv_rules")
    target = sorted((folder / subfolder).glob("*.yaml"))[0]
    target.write_text(HOSTILE_YAML[kind], encoding="utf-8")
    exc = _refused_load(app, folder, county["tenant_id"])
    assert any(p.file == f"{subfolder}/{target.name}" for p in exc.problems), exc.message


def _indented(text: str) -> str:
    return "".join(f"  {line}\n" for line in text.splitlines())


def _designer_routes(app) -> list[str]:
    """Every designer editor that takes YAML (new and edit), read from the URL map."""
    return sorted({r.rule for r in app.url_map.iter_rules()
                   if r.rule.endswith("/new") and "designer" in r.rule and "POST" in r.methods})


@pytest.mark.parametrize("kind", sorted(HOSTILE_YAML))
def test_hostile_yaml_in_the_designers_is_a_422_with_the_line(app, demo, client, kind):
    from support import login

    login(client, "ss_admin")
    tenant_id = demo["tenant_ids"]["shishi"]
    routes = _designer_routes(app)
    assert {"/form-designer/new", "/workflow-designer/new"} <= set(routes)
    before = database_digest(app, tenant_id)
    for route in routes:
        for action in ("check", "save"):
            started = time.monotonic()
            resp = client.post(route, data={"mode": "yaml", "action": action, "definition_yaml": HOSTILE_YAML[kind]})
            assert time.monotonic() - started < BUDGET
            page = resp.get_data(as_text=True)
            assert resp.status_code == 422, (route, resp.status_code)
            assert "Traceback" not in page
            assert re.search(r"第\d+行", page) and ("嵌套太深" in page or "别名" in page or "内容太多" in page)
    assert database_digest(app, tenant_id) == before


@pytest.mark.parametrize("rows", ["[" * 100000 + "]" * 100000, "[" + "1," * 150000 + "1]",
                                  '{"a": ' * 50 + "1" + "}" * 50,
                                  '[{"code": "x", "rest": {"default": ' + "[" * 40 + "]" * 40 + "}}]"])
def test_hostile_field_table_in_the_form_designer_is_a_422(app, demo, client, rows):
    from support import login

    login(client, "ss_admin")
    before = database_digest(app, demo["tenant_ids"]["shishi"])
    started = time.monotonic()
    resp = client.post("/form-designer/new", data={"mode": "table", "action": "save", "code": "adv_x", "name": "x",
                                                   "target": "village", "periodicity": "none", "fields_json": rows})
    assert time.monotonic() - started < BUDGET
    assert resp.status_code == 422 and "Traceback" not in resp.get_data(as_text=True)
    assert database_digest(app, demo["tenant_ids"]["shishi"]) == before


# -- 4. odd characters in designer and definition codes and versions ----------------------------------------------

ODD = ["%00", "..%2F..%2Fetc", "%E2%80%AE", "x" * 300, "1e9", "-1", "%27%20OR%201=1--", "%F0%9F%98%80",
       "99999999999999999999"]


def test_odd_codes_and_versions_in_designer_routes_are_404_or_4xx(app, demo, client):
    from support import login

    login(client, "ss_admin")
    rules = [r.rule for r in app.url_map.iter_rules() if "<code>" in r.rule and "GET" in r.methods
             and ("designer" in r.rule or "definition" in r.rule)]
    assert rules
    for rule in rules:
        for odd in ODD:
            url = re.sub(r"<(?:int:)?version>", odd, re.sub(r"<code>", odd, rule))
            for query in ("", f"?a={odd}&b=1", f"?version={odd}"):
                resp = client.get(url + query)
                assert resp.status_code in (400, 404, 422), (url + query, resp.status_code)
                assert "Traceback" not in resp.get_data(as_text=True)


# -- 4. the formula CLI takes what the user typed --------------------------------------------------

@pytest.mark.parametrize(("args", "shown"), [
    (["formula", "eval", "-1 + 2"], "结果：1"),
    (["formula", "eval", "-1", "+", "2"], "结果：1"),
    (["formula", "eval", "-计生常住人口 + 10", "--var", "计生常住人口=3"], "结果：7"),
    (["formula", "check", "-5"], "公式正确"),
])
def test_formula_cli_takes_an_expression_starting_with_minus(run, args, shown):
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert shown in result.output


@pytest.mark.parametrize("expr", ["(" * 10000 + "1" + ")" * 10000, "-" * 5000 + "1", "\x00", "1 +", "'"])
def test_formula_cli_refuses_hostile_expressions_cleanly(run, expr):
    started = time.monotonic()
    result = run("formula", "eval", expr)
    assert time.monotonic() - started < BUDGET
    assert result.exit_code == 1
    assert CHINESE.search(result.output) and "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)

"""Fuzzing the rule readers: any text is either a formula or a ``FormulaError``, any folder a problems report.

Whatever is typed or dropped into a tenant folder, the readers answer in their own terms (a
located, Chinese problem) and in bounded time; nothing else escapes (no RecursionError, no
KeyError from a half-read structure, no UnicodeError).
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from app.core.yaml_source import read_yaml
from app.formulas import FormulaError, compile_formula, default_registry
from app.orgs.variables import ORG_UNIT_VARIABLES
from app.staffing.variables import PERSON_VARIABLES
from app.tenantio.folder import read_folder
from support import TENANTS

BUDGET = 10.0
CHINESE = re.compile(r"[\u4e00-\u9fff]")
FORMULA_ALPHABET = st.sampled_from([*"()（）,，+-*/^%&=<>≤≥≠\"“”'[]【】 .0123456789eE\n\t",
                                    "计生常住人口", "年龄", "学历", "MAX", "IF", "ROUND", "AND", "TRUE", "\x00"])
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])


def _nested(depth: int, opener: str, closer: str) -> str:
    return opener * depth + "1" + closer * depth


formula_texts = st.one_of(
    st.lists(FORMULA_ALPHABET, max_size=80).map("".join),
    st.text(max_size=200),
    st.builds(_nested, st.integers(1, 12000), st.sampled_from(["(", "-(", "IF(TRUE,", "MAX("]),
              st.sampled_from([")", "))", ",1)"])),
)


@FUZZ
@given(text=formula_texts, person=st.booleans())
@example(text="(" * 10000 + "1" + ")" * 10000, person=False)
@example(text="-" * 1999 + "1", person=False)
@example(text="2^2^2^2^2^2^2^2^2^2", person=False)
@example(text="学历", person=True)  # a text variable: the SQL back end is given columns, never values
def test_formula_compiler_raises_only_its_own_error(app, text, person):
    variables = PERSON_VARIABLES if person else ORG_UNIT_VARIABLES
    started = time.monotonic()
    try:
        formula = compile_formula(text, variables, default_registry())
    except FormulaError as err:
        assert CHINESE.search(err.message), err.message
        assert err.caret is not None
    else:
        try:
            formula.compute(dict.fromkeys(formula.variables_used, 1))
        except FormulaError as err:
            assert CHINESE.search(err.message)
        formula.to_sql({code: sa.column(code) for code in formula.variables_used})  # as the recompute passes columns
    assert time.monotonic() - started < BUDGET


@FUZZ
@given(text=st.one_of(st.text(max_size=400), st.binary(max_size=400).map(lambda b: b.decode("latin-1")),
                      st.lists(st.sampled_from(["a:", " ", "- ", "&x ", "*x", "[", "]", "{", "}", ",", "\n", "?",
                                                "<<: *x", "!!python/object ", "'", '"', "#", "---\n", "\t", "\x00"]),
                               max_size=200).map("".join)))
def test_yaml_reader_answers_problems_never_raises(text):
    started = time.monotonic()
    doc = read_yaml(text)
    for problem in doc.problems:
        assert CHINESE.search(problem.message), problem
    assert doc.readable or doc.problems
    assert time.monotonic() - started < BUDGET


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz_src") / "shishi"
    shutil.copytree(TENANTS / "shishi", folder)
    return folder


def _mutate(text: str, cuts: list[tuple[int, int, str]]) -> str:
    for at, length, insert in cuts:
        at %= max(len(text), 1)
        text = text[:at] + insert + text[at + length:]
    return text


YAML_BITS = st.sampled_from([":", " ", "  ", "\n", "- ", "[", "{", "&a ", "*a", "'", '"', "\t", "positions:",
                             "quota: ", "term_years: -1", "org_level: 火星", "slug: X", "!!binary ", "\ufeff", "\x00"])


def _read(app, folder: Path) -> None:
    started = time.monotonic()
    with app.app_context():
        bundle, problems = read_folder(folder)
    assert time.monotonic() - started < BUDGET
    assert (bundle is None) == bool(problems)
    for problem in problems.items:
        assert CHINESE.search(problem.message), problem
        assert problem.file


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(cuts=st.lists(st.tuples(st.integers(0, 5000), st.integers(0, 40), st.one_of(YAML_BITS, st.text(max_size=12))),
                     min_size=1, max_size=8))
def test_mutated_tenant_yaml_gives_a_problems_report(app, pristine, tmp_path_factory, cuts):
    folder = tmp_path_factory.mktemp("fuzz_yaml") / "t"
    shutil.copytree(pristine, folder)
    cfg = folder / "tenant.yaml"
    cfg.write_text(_mutate(cfg.read_text(encoding="utf-8"), cuts), encoding="utf-8", errors="surrogatepass")
    _read(app, folder)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(name=st.sampled_from(["orgunits.csv", "population.csv", "roster.csv"]),
       data=st.one_of(st.binary(max_size=600),
                      st.lists(st.sampled_from([b",", b"\n", b"\r", b'"', b"\x00", b"\xff\xfe", b"\xef\xbb\xbf",
                                                b"code", b"parent_code", b"level", b"name", b"350581", b"village",
                                                "石狮".encode(), "石狮".encode("gbk"), b"-1", b"2025"]),
                               max_size=120).map(b"".join)))
def test_random_bytes_in_a_data_file_give_a_problems_report(app, pristine, tmp_path_factory, name, data):
    folder = tmp_path_factory.mktemp("fuzz_csv") / "t"
    shutil.copytree(pristine, folder)
    (folder / name).write_bytes(data)
    _read(app, folder)

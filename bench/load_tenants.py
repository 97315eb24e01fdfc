"""Tenant loader against PostgreSQL COPY of the same rows, in the same run.

    python bench/load_tenants.py --scale province|national|tiny [--data DIR] [--url URL] [--repeat N]

1. Writes the synthetic tenant folders of ``--scale`` with ``bench/generate.py`` into a temporary
   folder (or reads the folders already in ``--data DIR``).
2. Creates the database ``countydesk_bench`` on the server of ``--url`` (``DATABASE_URL`` by
   default) if it is missing, empties its ``public`` schema and runs the migrations. The database
   named in the URL itself is never touched: the test suite owns it.
3. Loads every folder through ``load_tenant_folder`` (validation included), timed; then loads them
   all again, which must change nothing.
4. Empties the schema again, migrates, reads the same folders with the csv module, computes the
   same rows (ids, paths, sex and birth date from the ID number) and writes them with psycopg
   ``COPY`` in one transaction; preparing the rows and the COPY are timed separately.
5. Checks both sides produced the same rows (a content hash per table over natural keys) and
   prints rows, seconds, rows/s and the ratio loader / COPY. Steps 3-4 run ``--repeat`` times
   (default 3) and the best time of each side counts, as other work on the machine only adds time.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for entry in (ROOT, ROOT / "bench"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

import psycopg
import yaml
from sqlalchemy.engine import make_url

from app.orgs.models import POPULATION_FIELDS

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BENCH_DB = "countydesk_bench"
TABLES = ("tenant", "position", "org_unit", "population_fact", "person", "appointment")


# One text per table, built over natural keys so two loads with different ids compare equal.
FINGERPRINT_SQL = {
    "tenant": "SELECT slug || '|' || name || '|' || region || '|' || locale || '|' || settings::jsonb::text "
              "AS r FROM tenant",
    "position": "SELECT t.slug || '|' || p.code || '|' || p.name || '|' || p.org_level || '|' "
                "|| coalesce(p.quota_formula, '') || '|' || coalesce(p.eligibility_formula, '') || '|' "
                "|| coalesce(p.term_years::text, '') || '|' || coalesce(p.rehire_ban_years::text, '') AS r "
                "FROM position p JOIN tenant t ON t.id = p.tenant_id",
    "org_unit": "SELECT t.slug || '|' || o.code || '|' || coalesce(u.code, '') || '|' || o.level || '|' "
                "|| o.name || '|' || o.path AS r FROM org_unit o JOIN tenant t ON t.id = o.tenant_id "
                "LEFT JOIN org_unit u ON u.id = o.parent_id",
    "population_fact": "SELECT t.slug || '|' || o.code || '|' || f.period || '|' || concat_ws('|', "
                       + ", ".join(f"coalesce(f.{c}::text, '')" for c in POPULATION_FIELDS)
                       + ") AS r FROM population_fact f JOIN tenant t ON t.id = f.tenant_id "
                       "JOIN org_unit o ON o.id = f.org_unit_id",
    "person": "SELECT concat_ws('|', t.slug, p.id_number, p.name, p.sex, p.birth_date::text, "
              "coalesce(p.education, ''), coalesce(p.phone, ''), coalesce(p.bank_card, ''), "
              "coalesce(o.code, '')) AS r FROM person p JOIN tenant t ON t.id = p.tenant_id "
              "LEFT JOIN org_unit o ON o.id = p.org_unit_id",
    "appointment": "SELECT concat_ws('|', t.slug, p.id_number, a.position_code, o.code, a.start_date::text, "
                   "coalesce(a.end_date::text, ''), a.status) AS r FROM appointment a "
                   "JOIN tenant t ON t.id = a.tenant_id JOIN person p ON p.id = a.person_id "
                   "JOIN org_unit o ON o.id = a.org_unit_id",
}


# --- database -------------------------------------------------------------------------------------

def bench_url(url: str) -> str:
    return make_url(url).set(database=BENCH_DB).render_as_string(hide_password=False)


def _conninfo(sa_url: str) -> str:
    """psycopg's connection string for a SQLAlchemy URL."""
    return make_url(sa_url).set(drivername="postgresql").render_as_string(hide_password=False)


def ensure_database(url: str) -> None:
    admin = _conninfo(make_url(url).set(database="postgres").render_as_string(hide_password=False))
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (BENCH_DB,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{BENCH_DB}"')


def fresh_schema(url: str) -> None:
    """Empty ``public`` of the bench database and run every migration."""
    from app.commands.demo import setup_database

    with psycopg.connect(_conninfo(url), autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")
    logging.disable(logging.INFO)  # alembic's progress lines; its env.py resets logger levels
    try:
        uploads = tempfile.mkdtemp(prefix="cd-bench-")
        setup_database({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": secrets.token_hex(32), "UPLOAD_FOLDER": uploads})
    finally:
        logging.disable(logging.NOTSET)


def fingerprint(url: str) -> dict[str, tuple[int, str]]:
    out = {}
    with psycopg.connect(_conninfo(url)) as conn:
        for table, sql in FINGERPRINT_SQL.items():
            row = conn.execute(f"SELECT count(*), coalesce(md5(string_agg(r, E'\\n' ORDER BY r)), '') "
                               f"FROM ({sql}) s").fetchone()
            assert row is not None
            out[table] = (int(row[0]), str(row[1]))
    return out


# --- (a) the tenant loader ------------------------------------------------------------------------

def run_loader(url: str, folders: list[Path], expect_change: bool = True) -> float:
    from app import create_app
    from app.tenantio.loader import load_tenant_folder

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": secrets.token_hex(32), "FAB_UPDATE_PERMS": False})
    with app.app_context():
        started = time.perf_counter()
        for folder in folders:
            if load_tenant_folder(folder).changed is not expect_change:
                what = "changed nothing" if expect_change else "changed rows"
                raise SystemExit(f"{folder}: the load {what}")
        return time.perf_counter() - started


# --- (b) COPY of the same rows --------------------------------------------------------------------

@dataclass
class Rows:
    tables: dict[str, list[tuple[Any, ...]]] = field(default_factory=lambda: {t: [] for t in TABLES})
    next_id: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 1))

    def add(self, table: str, *values: Any) -> int:
        row_id = self.next_id[table]
        self.next_id[table] = row_id + 1
        self.tables[table].append((row_id, *values))
        return row_id


COLUMNS = {
    "tenant": ("id", "slug", "name", "region", "locale", "settings"),
    "position": ("id", "tenant_id", "code", "name", "org_level", "quota_formula", "eligibility_formula",
                 "term_years", "rehire_ban_years"),
    "org_unit": ("id", "tenant_id", "code", "name", "level", "parent_id", "path"),
    "population_fact": ("id", "tenant_id", "org_unit_id", "period", *POPULATION_FIELDS),
    "person": ("id", "tenant_id", "name", "id_number", "sex", "birth_date", "education", "phone",
               "bank_card", "org_unit_id"),
    "appointment": ("id", "tenant_id", "person_id", "position_code", "org_unit_id", "start_date", "end_date",
                    "status"),
}


def _csv_rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        yield from csv.DictReader(fh)


def _int(text: str) -> int | None:
    return int(text) if text else None


def prepare_rows(folders: list[Path]) -> Rows:
    """The rows the loader writes, computed straight from the files (no validation)."""
    rows = Rows()
    for folder in folders:
        cfg = yaml.safe_load((folder / "tenant.yaml").read_text(encoding="utf-8"))
        region = "/".join(cfg["region"]) if isinstance(cfg["region"], list) else cfg["region"]
        settings = json.dumps({"packs": cfg.get("packs") or {}, "settings": cfg.get("settings") or {}},
                              ensure_ascii=False)
        tid = rows.add("tenant", cfg["slug"], cfg["name"], region, cfg.get("locale", "zh"), settings)
        for p in cfg.get("positions") or []:
            rows.add("position", tid, p["code"], p["name"], p["org_level"], p.get("quota"),
                     p.get("eligibility"), p.get("term_years"), p.get("rehire_ban_years"))
        ids: dict[str, int] = {}
        paths: dict[str, str] = {}
        for r in _csv_rows(folder / "orgunits.csv"):  # the generator writes parents first
            parent = r["parent_code"]
            path = f"{paths[parent] if parent else '/'}{r['code']}/"
            paths[r["code"]] = path
            ids[r["code"]] = rows.add("org_unit", tid, r["code"], r["name"], r["level"],
                                      ids[parent] if parent else None, path)
        for r in _csv_rows(folder / "population.csv"):
            rows.add("population_fact", tid, ids[r["org_code"]], r["period"],
                     *[_int(r[f]) for f in POPULATION_FIELDS])
        _prepare_roster(rows, tid, ids, list(_csv_rows(folder / "roster.csv")))
    return rows


def _prepare_roster(rows: Rows, tid: int, ids: dict[str, int], roster: list[dict[str, str]]) -> None:
    # A person lives in the unit of their primary appointment: active first, then the latest start.
    primary: dict[str, dict[str, str]] = {}
    for r in roster:
        best = primary.get(r["id_number"])
        if best is None or _rank(r) > _rank(best):
            primary[r["id_number"]] = r
    person_ids = {}
    for number, r in primary.items():
        person_ids[number] = rows.add(
            "person", tid, r["name"], number, "男" if int(number[16]) % 2 else "女",
            f"{number[6:10]}-{number[10:12]}-{number[12:14]}", r["education"] or None, r["phone"] or None,
            r["bank_card"] or None, ids[r["org_code"]])
    for r in roster:
        rows.add("appointment", tid, person_ids[r["id_number"]], r["position_code"], ids[r["org_code"]],
                 r["start"], r["end"] or None, r["status"] or "active")


def _rank(r: dict[str, str]) -> tuple[bool, str, str]:
    return ((r["status"] or "active") == "active", r["start"], r["org_code"])


def run_copy(url: str, rows: Rows) -> float:
    with psycopg.connect(_conninfo(url)) as conn:
        started = time.perf_counter()
        with conn.cursor() as cur:
            for table in TABLES:
                cols = COLUMNS[table]
                with cur.copy(f'COPY "{table}" ({", ".join(cols)}) FROM STDIN') as copy:
                    for row in rows.tables[table]:
                        copy.write_row(row)
            for table in TABLES:
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"(SELECT coalesce(max(id), 1) FROM \"{table}\"))")
        conn.commit()
        return time.perf_counter() - started


# --- report ---------------------------------------------------------------------------------------

@contextmanager
def step(label: str) -> Iterator[Callable[[], float]]:
    print(f"… {label}", flush=True)
    started = time.perf_counter()
    yield lambda: time.perf_counter() - started


def tenant_folders(data: Path) -> list[Path]:
    return sorted(p.parent for p in data.glob("*/tenant.yaml"))


def generate(scale: str, out: Path) -> None:
    from generate import SCALES, Generator

    generator = Generator(SCALES[scale], out, seed=2800, groups=False)
    generator.run()


def main(argv: list[str] | None = None) -> None:
    import os

    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--scale", choices=("tiny", "province", "national"), default="province")
    parser.add_argument("--data", type=Path, help="reuse tenant folders already written here")
    parser.add_argument("--url", default=os.environ.get("DATABASE_URL", "").strip() or DEFAULT_URL,
                        help="a PostgreSQL URL; only its server is used, the database is countydesk_bench")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side; the best time counts")
    args = parser.parse_args(argv)
    os.environ.setdefault("FAB_UPDATE_PERMS", "0")
    url = bench_url(_sa_url(args.url))

    with tempfile.TemporaryDirectory(prefix="cd-tenants-") as tmp:
        data = args.data or Path(tmp)
        if not tenant_folders(data):
            with step(f"generating {args.scale} folders in {data}") as took:
                generate(args.scale, data)
            print(f"  {took():.1f} s")
        folders = tenant_folders(data)
        ensure_database(url)
        loader_times, prepare_times, copy_times = [], [], []
        for run in range(1, args.repeat + 1):
            fresh_schema(url)
            with step(f"run {run}: loading {len(folders)} tenant folders through the tenant loader"):
                loader_times.append(run_loader(url, folders))
            loaded = fingerprint(url)
            if run == 1:
                with step("loading the same folders again (must change nothing)"):
                    reload_s = run_loader(url, folders, expect_change=False)
                if fingerprint(url) != loaded:
                    raise SystemExit("loading the same folders again changed the database")
            fresh_schema(url)
            # built only now and dropped after: millions of live tuples would slow the loader's GC
            with step(f"run {run}: preparing the same rows from the files") as took:
                rows = prepare_rows(folders)
                prepare_times.append(took())
            with step(f"run {run}: writing them with COPY"):
                copy_times.append(run_copy(url, rows))
            del rows
            copied = fingerprint(url)
            print(f"  loader {loader_times[-1]:.2f} s, COPY {copy_times[-1]:.2f} s", flush=True)
            if loaded != copied:
                break
    report(args.scale, loaded, copied, min(loader_times), min(copy_times), min(prepare_times))
    print(f"loading the same folders again: {reload_s:.2f} s, no change")


def report(scale: str, loaded: dict[str, tuple[int, str]], copied: dict[str, tuple[int, str]],
           loader_s: float, copy_s: float, prepare_s: float) -> None:
    total = sum(n for n, _ in loaded.values())
    print(f"\n{scale}: best of the runs\n")
    print(f"{'table':<16}{'rows':>12}  same rows from both")
    for table in TABLES:
        print(f"{table:<16}{loaded[table][0]:>12,}  {'yes' if loaded[table] == copied[table] else 'NO'}")
    print(f"{'total':<16}{total:>12,}\n")
    print(f"{'tenant loader':<28}{loader_s:8.2f} s {total / loader_s:>12,.0f} rows/s")
    print(f"{'COPY (rows ready)':<28}{copy_s:8.2f} s {total / copy_s:>12,.0f} rows/s")
    print(f"{'COPY incl. reading files':<28}{prepare_s + copy_s:8.2f} s "
          f"{total / (prepare_s + copy_s):>12,.0f} rows/s")
    print(f"ratio loader / COPY: {loader_s / copy_s:.1f}× (rows ready), "
          f"{loader_s / (prepare_s + copy_s):.1f}× (incl. reading files)")
    if loaded != copied:
        raise SystemExit("the loader and COPY produced different rows")


def _sa_url(url: str) -> str:
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if not url.startswith("postgresql"):
        raise SystemExit("this benchmark needs PostgreSQL (--url or DATABASE_URL)")
    return url


if __name__ == "__main__":
    main()

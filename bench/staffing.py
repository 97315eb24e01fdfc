"""Staffing quota recompute: the formula engine's SQL back end against hand-written SQL, in the same run.

    python bench/staffing.py --scale province|national|tiny [--url URL] [--repeat N] [--reuse]

1. Creates the database ``countydesk_bench_staffing`` on the server of ``--url`` (``DATABASE_URL`` by
   default; only its server is used, never its database), empties it, runs the migrations and writes
   the synthetic country of ``--scale`` straight into it with ``INSERT … SELECT generate_series``
   (sizes from ``bench/generate.py``: national = 2,800 tenants, 600,000 villages, 1M staff; odd
   tenants staff ``XGY`` with the SS-1 formula, even ones ``RKZR`` with GL-1). ``--reuse`` keeps data
   of the same scale from an earlier run.
2. Times ``recompute_all_tenants`` (formulas compiled by ``Formula.to_sql``, one transaction) and a
   hand-written ``DELETE`` + ``INSERT … SELECT`` with the same arithmetic, staffed count, inputs JSON
   and rollups, alternately ``--repeat`` times (best time counts: other work only adds time), and
   checks that both wrote the same rows. The recompute compares what it computes with the stored
   rows in the same statement and writes only rows that differ, so in these runs (the period's rows
   are already there, from the other side) it reads everything and writes nothing; it is also timed
   once on an emptied period, where every row is new (``every row new``). The load average is
   printed with the results: on a shared machine absolute times scale with it, ratios much less.
3. Times one tenant's recompute, and the Python back end (``Formula.compute``) over the fetched
   villages, in rows/s.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for entry in (ROOT, ROOT / "bench"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

import psycopg
from generate import SCALES
from load_tenants import DEFAULT_URL, _conninfo, _sa_url, fresh_schema
from sqlalchemy.engine import make_url

from app.staffing.quotas import WORK_MEM

BENCH_DB = "countydesk_bench_staffing"
PERIOD, JUDGED = "2025", "2025-12-31"
POSITIONS = {  # code: (name, formula as the tenant folders have it, the same arithmetic written by hand)
    "XGY": ("村级计生社保协管员", "MAX(1, CEILING(计生常住人口 / 1500))",
            "greatest(1, ceil(pf.resident_pop::float8 / 1500))", "resident_pop"),
    "RKZR": ("村级人口主任", "BRACKETS(户籍人口, 2000, 1, 5000, 2, 3)",
             "CASE WHEN pf.registered_pop <= 2000 THEN 1 WHEN pf.registered_pop <= 5000 THEN 2 ELSE 3 END::float8",
             "registered_pop"),
}


def _h(expr: str, n: int, salt: int = 0) -> str:
    """A deterministic pseudo-random integer in [0, n) computed by PostgreSQL."""
    return f"mod(mod(hashint8(({expr})::bigint * 7919 + {salt})::bigint, {n}) + {n}, {n})::int"


def build(url: str, scale_name: str, reuse: bool) -> dict[str, int]:
    scale = SCALES[scale_name]
    t, nt, nv = scale.tenants, max(1, scale.towns // scale.tenants), scale.villages // scale.tenants
    villages, staff = t * nv, scale.staff
    if reuse and _counts(url) == {"tenant": t, "village": villages}:
        print(f"… reusing {scale_name} data in {BENCH_DB}")
        return {"tenants": t, "villages": villages, "staff": staff}
    with_steps = time.perf_counter()
    fresh_schema(url)
    code = "CASE WHEN {x} % 2 = 1 THEN 'XGY' ELSE 'RKZR' END"
    town_id, first_village = f"{t} + ({{t}} - 1) * {nt} + {{k}}", t + t * nt
    sql = [
        f"INSERT INTO tenant (id, slug, name, region, locale, settings) SELECT t, 'bench' || lpad(t::text, 5, '0'), "
        f"'基准县' || t, '基准省/基准市', 'zh', '{{}}'::json FROM generate_series(1, {t}) t",
        f"INSERT INTO position (id, tenant_id, code, name, org_level, quota_formula, term_years) SELECT t, t, "
        f"{code.format(x='t')}, CASE WHEN t % 2 = 1 THEN '{POSITIONS['XGY'][0]}' ELSE '{POSITIONS['RKZR'][0]}' END, "
        f"'village', CASE WHEN t % 2 = 1 THEN '{POSITIONS['XGY'][1]}' ELSE '{POSITIONS['RKZR'][1]}' END, 3 "
        f"FROM generate_series(1, {t}) t",
        f"INSERT INTO org_unit (id, tenant_id, code, name, level, parent_id, path) SELECT t, t, 'C' || t, "
        f"'基准县' || t, 'county', NULL, '/C' || t || '/' FROM generate_series(1, {t}) t",
        f"INSERT INTO org_unit (id, tenant_id, code, name, level, parent_id, path) SELECT "
        f"{town_id.format(t='t', k='k')}, t, 'C' || t || 'T' || k, '镇' || k, 'town', t, "
        f"'/C' || t || '/C' || t || 'T' || k || '/' FROM generate_series(1, {t}) t, generate_series(1, {nt}) k",
        f"INSERT INTO org_unit (id, tenant_id, code, name, level, parent_id, path) SELECT "
        f"{first_village} + (t - 1) * {nv} + j, t, 'C' || t || 'T' || k || 'V' || j, '村' || j, 'village', "
        f"{town_id.format(t='t', k='k')}, "
        f"'/C' || t || '/C' || t || 'T' || k || '/C' || t || 'T' || k || 'V' || j || '/' "
        f"FROM generate_series(1, {t}) t, generate_series(1, {nv}) j, LATERAL (SELECT (j - 1) % {nt} + 1 AS k) kk",
        f"INSERT INTO population_fact (id, tenant_id, org_unit_id, period, registered_pop, resident_pop, floating_pop, "
        f"married_women, households, groups) SELECT v - {first_village}, tenant_id, v, '{PERIOD}', "
        f"300 + {_h('v', 9000, 1)}, 300 + {_h('v', 12000, 2)}, {_h('v', 3000, 3)}, 50 + {_h('v', 1500, 4)}, "
        f"100 + {_h('v', 3000, 5)}, 3 FROM (SELECT id AS v, tenant_id FROM org_unit WHERE level = 'village') u",
        f"INSERT INTO person (id, tenant_id, name, id_number, sex, birth_date, org_unit_id) SELECT s, "
        f"(s - 1) % {villages} / {nv} + 1, '职工' || s, lpad(s::text, 18, '0'), '女', date '1985-01-01', "
        f"{first_village} + 1 + (s - 1) % {villages} FROM generate_series(1, {staff}) s",
        f"INSERT INTO appointment (id, tenant_id, person_id, position_code, org_unit_id, start_date, end_date, status) "
        f"SELECT id, tenant_id, id, {code.format(x='tenant_id')}, org_unit_id, "
        f"date '2021-01-01' + {_h('id', 1700, 6)}, "
        f"CASE WHEN r < 93 THEN date '2028-12-31' ELSE date '2024-01-01' + {_h('id', 365, 7)} END, "
        f"CASE WHEN r < 93 THEN 'active' WHEN r < 98 THEN 'ended' ELSE 'dismissed' END "
        f"FROM (SELECT id, tenant_id, org_unit_id, {_h('id', 100, 8)} AS r FROM person) p",
    ]
    with psycopg.connect(_conninfo(url)) as conn:
        for statement in sql:
            conn.execute(statement)  # type: ignore[arg-type]
        for table in ("tenant", "position", "org_unit", "population_fact", "person", "appointment"):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.commit()
        conn.autocommit = True
        conn.execute("ANALYZE")
    print(f"  built {t:,} tenants, {t * nt:,} towns, {villages:,} villages, {staff:,} staff "
          f"in {time.perf_counter() - with_steps:.1f} s")
    return {"tenants": t, "villages": villages, "staff": staff}


def _counts(url: str) -> dict[str, int]:
    try:
        with psycopg.connect(_conninfo(url)) as conn:
            row = conn.execute("SELECT (SELECT count(*) FROM tenant), "
                               "(SELECT count(*) FROM org_unit WHERE level = 'village')").fetchone()
    except psycopg.Error:
        return {}
    return {"tenant": int(row[0]), "village": int(row[1])} if row else {}


def ensure_database(url: str) -> None:
    admin = _conninfo(make_url(url).set(database="postgres").render_as_string(hide_password=False))
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (BENCH_DB,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{BENCH_DB}"')


# --- the two sides --------------------------------------------------------------------------------

def hand_written_sql() -> list[str]:
    """The same work as ``recompute_all_tenants``, written by hand for this data set's two formulas."""
    out = [f"SET LOCAL work_mem = '{WORK_MEM}'", f"DELETE FROM staffing_quota WHERE period = '{PERIOD}'"]
    for code, (_, _, quota, field) in POSITIONS.items():
        out.append(
            'INSERT INTO staffing_quota (tenant_id, org_unit_id, position_id, period, quota, staffed, vacant, "over", '
            f"rule_id, inputs, computed_at) SELECT b.tenant_id, b.org_unit_id, b.position_id, '{PERIOD}', b.quota, "
            "b.staffed, "
            "CASE WHEN b.quota IS NULL THEN NULL WHEN b.quota > b.staffed THEN b.quota - b.staffed ELSE 0 END, "
            "CASE WHEN b.quota IS NULL THEN NULL WHEN b.staffed > b.quota THEN b.staffed - b.quota ELSE 0 END, "
            "b.rule_id, b.inputs, now() FROM ("
            f"SELECT ou.tenant_id, ou.id AS org_unit_id, p.id AS position_id, r.id AS rule_id, {quota} AS quota, "
            f"coalesce(s.n, 0) AS staffed, json_build_object('{field}', pf.{field}, 'fact_period', "
            f"CASE WHEN pf.id IS NOT NULL THEN '{PERIOD}' END) AS inputs "
            "FROM position_rule r JOIN position p ON p.id = r.position_id "
            "JOIN org_unit ou ON ou.tenant_id = p.tenant_id AND ou.level = p.org_level "
            f"LEFT JOIN population_fact pf ON pf.tenant_id = ou.tenant_id AND pf.org_unit_id = ou.id "
            f"AND pf.period = '{PERIOD}' "
            "LEFT JOIN (SELECT org_unit_id, position_code, count(*) AS n FROM appointment "
            f"WHERE position_code = '{code}' AND start_date <= '{JUDGED}' "
            f"AND (status = 'active' OR end_date >= '{JUDGED}') GROUP BY org_unit_id, position_code) s "
            "ON s.org_unit_id = ou.id AND s.position_code = p.code "
            f"WHERE r.kind = 'quota' AND p.code = '{code}') b")
    for level in ("town", "county"):
        full = "count(q.quota) = count(*)"
        out.append(
            'INSERT INTO staffing_quota (tenant_id, org_unit_id, position_id, period, quota, staffed, vacant, "over", '
            f"rule_id, inputs, computed_at) SELECT par.tenant_id, par.id, q.position_id, '{PERIOD}', "
            f"CASE WHEN {full} THEN sum(q.quota) END, sum(q.staffed), CASE WHEN {full} THEN sum(q.vacant) END, "
            f"CASE WHEN {full} THEN sum(q.\"over\") END, q.rule_id, json_build_object('children', count(*)), now() "
            "FROM staffing_quota q JOIN org_unit c ON c.id = q.org_unit_id JOIN org_unit par ON par.id = c.parent_id "
            f"WHERE q.period = '{PERIOD}' AND par.level = '{level}' "
            "GROUP BY par.tenant_id, par.id, q.position_id, q.rule_id")
    return out


def server_cpu(pid: int) -> float:
    """CPU seconds used so far by a PostgreSQL backend on this machine (NaN if the server is elsewhere).

    Why: on a shared machine wall time scales with the load average; the CPU a backend spends on the
    same work varies much less, so it is printed beside the wall time.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_hand_written(url: str) -> tuple[float, float]:
    """(wall s, server CPU s)."""
    with psycopg.connect(_conninfo(url)) as conn:
        cpu, started = server_cpu(conn.info.backend_pid), time.perf_counter()
        for statement in hand_written_sql():
            conn.execute(statement)  # type: ignore[arg-type]
        conn.commit()
        return time.perf_counter() - started, server_cpu(conn.info.backend_pid) - cpu


def run_engine(app: Any) -> tuple[float, Any, float]:
    """(wall s, report, server CPU s)."""
    from sqlalchemy import text

    from app.core.tenancy import tenant_context
    from app.extensions import db
    from app.staffing.quotas import recompute_all_tenants

    with app.app_context(), tenant_context(None):
        pid = db.session.connection().execute(text("SELECT pg_backend_pid()")).scalar_one()
        # no commit: the recompute's transaction continues on this connection, so the pid is its backend's
        cpu, started = server_cpu(pid), time.perf_counter()
        report = recompute_all_tenants(PERIOD)
        took = time.perf_counter() - started
        cpu = server_cpu(pid) - cpu
        db.session.remove()
    return took, report, cpu


def one_tenant(app: Any, repeat: int) -> float:
    from app.core.tenancy import tenant_context
    from app.extensions import db
    from app.staffing.quotas import recompute_quotas

    times = []
    with app.app_context():
        for _ in range(repeat):
            with tenant_context(1):
                started = time.perf_counter()
                recompute_quotas(PERIOD)
                times.append(time.perf_counter() - started)
            db.session.remove()
    return statistics.median(times)


def python_back_end(url: str) -> tuple[int, float, float]:
    """Fetch every village's inputs, then ``Formula.compute`` each: (rows, fetch s, compute s)."""
    from app.staffing.rules import compile_rule

    formulas = {code: compile_rule("quota", spec[1]) for code, spec in POSITIONS.items()}
    with psycopg.connect(_conninfo(url)) as conn:
        started = time.perf_counter()
        rows = conn.execute("SELECT p.code, pf.resident_pop, pf.registered_pop FROM population_fact pf "
                            "JOIN position p ON p.tenant_id = pf.tenant_id "
                            f"WHERE pf.period = '{PERIOD}'").fetchall()
        fetched = time.perf_counter() - started
    started = time.perf_counter()
    for code, resident, registered in rows:
        formulas[code].compute({"resident_pop": resident, "registered_pop": registered})
    return len(rows), fetched, time.perf_counter() - started


def fingerprint(url: str) -> tuple[int, str]:
    with psycopg.connect(_conninfo(url)) as conn:
        row = conn.execute(
            "SELECT count(*), md5(string_agg(concat_ws('|', tenant_id, org_unit_id, position_id, period, quota, "
            "staffed, vacant, \"over\", rule_id, inputs::text), E'\\n' ORDER BY tenant_id, org_unit_id, position_id)) "
            f"FROM staffing_quota WHERE period = '{PERIOD}'").fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


def empty_period(url: str) -> None:
    with psycopg.connect(_conninfo(url)) as conn:
        conn.execute(f"DELETE FROM staffing_quota WHERE period = '{PERIOD}'")
        conn.commit()


def vacuum(url: str) -> None:
    with psycopg.connect(_conninfo(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE staffing_quota")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--scale", choices=("tiny", "province", "national"), default="province")
    parser.add_argument("--url", default=os.environ.get("DATABASE_URL", "").strip() or DEFAULT_URL,
                        help=f"a PostgreSQL URL; only its server is used, the database is {BENCH_DB}")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side; the best time counts")
    parser.add_argument("--reuse", action="store_true", help="keep data of the same scale from an earlier run")
    args = parser.parse_args(argv)
    os.environ["FAB_UPDATE_PERMS"] = "0"
    url = make_url(_sa_url(args.url)).set(database=BENCH_DB).render_as_string(hide_password=False)
    ensure_database(url)
    logging.disable(logging.INFO)
    sizes = build(url, args.scale, args.reuse)

    from app import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": secrets.token_hex(32), "FAB_UPDATE_PERMS": False})
    load_start = f"{os.getloadavg()[0]:.2f}"
    warm, report, _cpu = run_engine(app)  # also makes the version-1 rules
    print(f"  warm-up: {report.summary()} ({warm:.2f} s)")
    engine_times, hand_times, engine_cpu, hand_cpu = [], [], [], []
    for run in range(1, args.repeat + 1):
        vacuum(url)
        took, report, cpu = run_engine(app)
        engine_times.append(took)
        engine_cpu.append(cpu)
        engine_rows = fingerprint(url)
        vacuum(url)
        took, cpu = run_hand_written(url)
        hand_times.append(took)
        hand_cpu.append(cpu)
        hand_rows = fingerprint(url)
        print(f"  run {run}: SQL back end {engine_times[-1]:.2f} s (server CPU {engine_cpu[-1]:.2f} s), "
              f"hand-written {hand_times[-1]:.2f} s (server CPU {hand_cpu[-1]:.2f} s), "
              f"load {os.getloadavg()[0]:.2f}", flush=True)
        if engine_rows != hand_rows:
            raise SystemExit(f"the two sides wrote different rows: {engine_rows} vs {hand_rows}")
    empty_period(url)
    vacuum(url)
    every_row_new, _report, new_cpu = run_engine(app)
    if fingerprint(url) != hand_rows:
        raise SystemExit("the recompute into an empty period wrote different rows")
    single = one_tenant(app, 5)
    rows, fetch_s, compute_s = python_back_end(url)
    engine_s, hand_s = min(engine_times), min(hand_times)
    print(f"\nload average (1 min) at the start / end: {load_start} / {os.getloadavg()[0]:.2f} on "
          f"{os.cpu_count()} cores")
    print(f"\n{args.scale}: {sizes['tenants']:,} tenants, {sizes['villages']:,} villages, {sizes['staff']:,} staff; "
          f"{engine_rows[0]:,} quota rows (same rows from both sides)\n")
    engine_med, hand_med = statistics.median(engine_times), statistics.median(hand_times)
    print(f"{'SQL back end (recompute_all_tenants)':<40}{engine_s:8.2f} s best, {engine_med:.2f} s median "
          f"({report.statements} statements; server CPU {min(engine_cpu):.2f} s)")
    print(f"{'hand-written INSERT … SELECT':<40}{hand_s:8.2f} s best, {hand_med:.2f} s median "
          f"(server CPU {min(hand_cpu):.2f} s)")
    print(f"{'SQL back end, every row new':<40}{every_row_new:8.2f} s ({every_row_new / hand_s:.2f}× hand-written; "
          f"server CPU {new_cpu:.2f} s)")
    print(f"ratio SQL back end / hand-written: {engine_s / hand_s:.2f}× (best), {engine_med / hand_med:.2f}× (median)")
    print(f"{'one tenant (recompute_quotas, median)':<40}{single * 1000:8.1f} ms")
    print(f"{'Python back end (Formula.compute)':<40}{compute_s:8.2f} s {rows / compute_s:>12,.0f} rows/s "
          f"(+ {fetch_s:.2f} s to fetch {rows:,} rows)")


if __name__ == "__main__":
    main()

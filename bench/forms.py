"""Form record lists at a million records: the real list view against the bare SQL of the same page.

    python bench/forms.py [--records 1000000] [--url URL] [--repeat 40] [--reuse] [--no-import]

1. Empties the database of ``--url`` (``DATABASE_URL`` by default; **its public schema is dropped**),
   runs the migrations and writes one synthetic county (``bench``: 20 towns × 400 villages, ids and
   paths in the style of ``bench/generate.py``), the Shishi monthly report form
   (``tenants/shishi/forms/monthly_report.yaml``) and ``--records`` monthly reports: every village,
   month after month backwards from 2025-12, so (village, period) stays unique as in real data.
   Rows go in with ``COPY`` (one stream). ``--reuse`` keeps the data of an earlier run of the same size.
2. Logs in a county admin through the Flask test client and times ``GET /forms/rkjs_monthly/`` for
   three pages: the first page, a deep keyset page (``?after=`` the middle id) and a filtered page
   (one town's subtree and one period). The baseline is the page's own SQL: every statement one
   request of that page sends is recorded (``before_cursor_execute``) and replayed over a plain
   psycopg connection in one transaction — the login's user, roles and tenant setting, the form
   definition, the keyset page with its capped count, the filter's units and the menu's counts. A
   hand-written subset (the keyset ``SELECT`` and the count only) left out half the round trips the
   page cannot avoid. Each page is timed ``--repeat`` times after a warm-up, alternately with the
   replay; p50 and p95 of both and their ratio are printed (aim ≤ 3×), and beside them the replay
   of only the statements sent from the view on (without the login's), for comparison.

The import half of the forms benchmark is ``import_benchmark()`` (filled in ``bench/forms_import.py``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Statement = tuple[str, Any]

ROOT = Path(__file__).resolve().parents[1]
for entry in (ROOT, ROOT / "bench"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

import psycopg
import yaml
from load_tenants import DEFAULT_URL, _conninfo, _sa_url, fresh_schema

FORM = "rkjs_monthly"
TOWNS, VILLAGES_PER_TOWN = 20, 400
PAGE = 50
COUNT_CAP = 10_000
USER, PASSWORD = "bench_admin", "bench-pass-123"
FORM_FILE = ROOT / "tenants" / "shishi" / "forms" / "monthly_report.yaml"


def _periods(n: int) -> list[str]:
    """``n`` months backwards from 2025-12."""
    out, year, month = [], 2025, 12
    for _ in range(n):
        out.append(f"{year}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out


def _counts(url: str) -> int | None:
    try:
        with psycopg.connect(_conninfo(url)) as conn:
            row = conn.execute("SELECT count(*) FROM form_record").fetchone()
    except psycopg.Error:
        return None
    return int(row[0]) if row else None


def build(url: str, records: int) -> None:
    """Schema, the county and its org tree, the form, ``records`` reports (COPY)."""
    from app.forms.definition import load_form

    started = time.perf_counter()
    fresh_schema(url)
    spec = load_form(yaml.safe_load(FORM_FILE.read_text(encoding="utf-8"))).to_dict()
    villages = TOWNS * VILLAGES_PER_TOWN
    first_village = 2 + TOWNS
    with psycopg.connect(_conninfo(url)) as conn:
        conn.execute("INSERT INTO tenant (id, slug, name, region, locale, settings) "
                     "VALUES (1, 'bench', '基准县', '基准省/基准市', 'zh', '{}'::json)")
        conn.execute("INSERT INTO org_unit (id, tenant_id, code, name, level, parent_id, path) "
                     "VALUES (1, 1, 'C1', '基准县', 'county', NULL, '/C1/')")
        conn.execute(f"INSERT INTO org_unit (id, tenant_id, code, name, level, parent_id, path) SELECT 1 + k, 1, "
                     f"'C1T' || k, '镇' || k, 'town', 1, '/C1/C1T' || k || '/' FROM generate_series(1, {TOWNS}) k")
        conn.execute(f"INSERT INTO org_unit (id, tenant_id, code, name, level, parent_id, path) SELECT "
                     f"{first_village} + (k - 1) * {VILLAGES_PER_TOWN} + j - 1, 1, 'C1T' || k || 'V' || j, "
                     f"'村' || k || '-' || j, 'village', 1 + k, '/C1/C1T' || k || '/C1T' || k || 'V' || j || '/' "
                     f"FROM generate_series(1, {TOWNS}) k, generate_series(1, {VILLAGES_PER_TOWN}) j")
        conn.execute("INSERT INTO form_definition (id, tenant_id, code, version, name, target, periodicity, spec, "
                     "source) VALUES (1, 1, %s, 1, %s, 'village', 'monthly', %s, 'yaml')",
                     (FORM, spec["name"], json.dumps(spec, ensure_ascii=False)))
        periods = _periods(-(-records // villages))
        columns = ("id, tenant_id, form_code, form_version, org_unit_id, period, natural_key, data, status, "
                   "submitted_at, row_version")
        with conn.cursor().copy(f"COPY form_record ({columns}) FROM STDIN") as copy:
            chunk: list[str] = []
            for i in range(records):
                v, p = i % villages, i // villages
                org, period = first_village + v, periods[len(periods) - 1 - p]
                births = (i * 7) % 9
                data = (f'{{"registered_pop": {2000 + (i * 13) % 4000}, "resident_pop": {2100 + (i * 11) % 4000}, '
                        f'"floating_in": null, "married_women": {300 + i % 500}, "households": null, '
                        f'"births": {births}, "births_in_policy": {births}, "deaths": {(i * 3) % 7}}}')
                chunk.append(f"{i + 1}\t1\t{FORM}\t1\t{org}\t{period}\to{org}|{period}\t{data}\tsubmitted\t"
                             f"{period}-28 10:00:00\t1\n")
                if len(chunk) == 20_000:
                    copy.write("".join(chunk))
                    chunk = []
            if chunk:
                copy.write("".join(chunk))
        for table in ("tenant", "org_unit", "form_definition", "form_record"):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    print(f"  built 1 county, {TOWNS} towns, {villages:,} villages, {records:,} monthly reports "
          f"({len(periods)} months) in {time.perf_counter() - started:.1f} s", flush=True)


def _pct(times: list[float], q: int) -> float:
    return statistics.quantiles(times, n=100, method="inclusive")[q - 1] if len(times) > 1 else times[0]


def record_statements(app: Any, client: Any, path: str) -> tuple[list[Statement], int]:
    """Every statement one request of ``path`` sends, in order, and how many came before the view ran.

    Recorded from the page itself (SQLAlchemy's ``before_cursor_execute``), so the baseline is the
    page's real SQL — the login's user and roles, the tenant setting, the definition, the keyset
    page, the capped count, the filter's units, the menu's counts — never a hand-written subset.
    """
    from sqlalchemy import event

    from app.extensions import db

    seen: list[Statement] = []
    view_started: list[int] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        seen.append((statement, parameters))

    endpoint = "FormsView.records"
    inner = app.view_functions[endpoint]

    def marked(*args: Any, **kwargs: Any) -> Any:
        view_started.append(len(seen))
        return inner(*args, **kwargs)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    app.view_functions[endpoint] = marked
    try:
        assert client.get(path).status_code == 200
    finally:
        app.view_functions[endpoint] = inner
        event.remove(engine, "before_cursor_execute", record)
    return seen, (view_started[0] if view_started else len(seen))


def bare_sql(url: str, statements: list[Statement]) -> Callable[[], None]:
    """The statements replayed over a plain psycopg connection, in one transaction like the request's."""
    conn = psycopg.connect(_conninfo(url))

    def run() -> None:
        for statement, params in statements:
            cur = conn.execute(statement, params)
            if cur.description is not None:
                cur.fetchall()
        conn.rollback()

    return run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--url", default=os.environ.get("DATABASE_URL", "").strip() or DEFAULT_URL,
                        help="a PostgreSQL URL; its public schema is DROPPED and rebuilt")
    parser.add_argument("--repeat", type=int, default=40, help="timed requests per page and side")
    parser.add_argument("--reuse", action="store_true", help="keep the data of an earlier run of the same size")
    parser.add_argument("--no-import", action="store_true", help="only the list half (the import half rebuilds the db)")
    args = parser.parse_args(argv)
    url = _sa_url(args.url)
    if not (args.reuse and _counts(url) == args.records):
        build(url, args.records)
    else:
        print(f"  reusing {args.records:,} records")
    logging.disable(logging.INFO)

    from sqlalchemy import select

    from app import create_app
    from app.extensions import db
    from app.security.models import CountyUser
    from app.security.services import add_user

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "WTF_CSRF_ENABLED": False, "TESTING": True,
                      "AUTH_RATE_LIMIT": "1000 per second", "RATELIMIT_STORAGE_URI": "memory://"})
    with app.app_context():
        if db.session.scalar(select(CountyUser.id).where(CountyUser.username == USER)) is None:
            add_user(USER, role="county_admin", password=PASSWORD, tenant_slug="bench")
        db.session.remove()
    client = app.test_client()
    resp = client.post("/login/", data={"username": USER, "password": PASSWORD})
    assert resp.status_code == 302, "login failed"

    villages = TOWNS * VILLAGES_PER_TOWN
    months = -(-args.records // villages)
    mid_period = _periods(months)[months // 2]
    town = 2 + TOWNS // 2
    middle = args.records // 2
    pages = {
        "first page": f"/forms/{FORM}/",
        "deep keyset page": f"/forms/{FORM}/?after={middle}",
        "filtered (town + period)": f"/forms/{FORM}/?org_unit={town}&period={mid_period}",
    }
    print(f"\n{args.records:,} monthly reports; {args.repeat} requests per page and side (after 3 warm-up)")
    print("SQL = every statement the request sends, replayed over psycopg; view's SQL = those sent from the view on\n")
    print(f"{'page':<26}{'view p50':>10}{'view p95':>10}{'SQL p50':>10}{'SQL p95':>10}{'p50 ratio':>11}"
          f"{'p95 ratio':>11}{'view SQL p50':>14}{'ratio':>7}")
    for label, path in pages.items():

        def view(path: str = path) -> None:
            r = client.get(path)
            assert r.status_code == 200, (path, r.status_code)
            assert b'id="cd-form-records"' in r.data

        for _ in range(3):
            view()
        statements, before_view = record_statements(app, client, path)
        sql, view_sql = bare_sql(url, statements), bare_sql(url, statements[before_view:])
        for _ in range(3):
            sql()
            view_sql()
        view_times: list[float] = []
        sql_times: list[float] = []
        view_sql_times: list[float] = []
        for _ in range(args.repeat):
            for run, times in ((view, view_times), (sql, sql_times), (view_sql, view_sql_times)):
                t0 = time.perf_counter()
                run()
                times.append(time.perf_counter() - t0)
        v50, v95, s50, s95 = (_pct(view_times, 50), _pct(view_times, 95), _pct(sql_times, 50), _pct(sql_times, 95))
        d50 = _pct(view_sql_times, 50)
        print(f"{label:<26}{v50 * 1000:8.1f}ms{v95 * 1000:8.1f}ms{s50 * 1000:8.1f}ms{s95 * 1000:8.1f}ms"
              f"{v50 / s50:10.1f}×{v95 / s95:10.1f}×{d50 * 1000:12.1f}ms{v50 / d50:6.1f}×"
              f"   ({len(statements)} statements, {len(statements) - before_view} from the view)", flush=True)
    print()
    if not args.no_import:
        import_benchmark(args.url)


def import_benchmark(url: str) -> None:
    """Import of 100,000 rows against COPY of the same rows: filled in by ``bench/forms_import.py``.

    Runs it on the same database as this run (``--url``), never on its own default.
    """
    other = Path(__file__).with_name("forms_import.py")
    if not other.is_file():
        print("import benchmark: see bench/forms_import.py")
        return
    import runpy

    argv = sys.argv
    sys.argv = [str(other), "--url", url]  # the same database; its other options at their defaults
    try:
        runpy.run_path(str(other), run_name="__main__")
    finally:
        sys.argv = argv


if __name__ == "__main__":
    main()

"""Workflow engine at national scale: open the annual appraisal (SS-7) for every staff member, bulk-approve a county.

    python bench/workflows.py --scale tiny|province|national [--url URL] [--repeat N] [--sample N] [--reuse]

1. Creates the database ``countydesk_bench_workflows`` on the server of ``--url`` (``DATABASE_URL`` by
   default; only its server is used), and writes the synthetic country of ``--scale`` with the staffing
   benchmark's generator (national = 2,800 tenants, 600,000 villages, 1M staff, ~93 % active).
   Each tenant gets the Shishi appraisal definition (tenants/shishi/workflows/appraisal.yaml).
2. Opens the 2025 appraisal for every active staff member, tenant by tenant, with
   ``services.start_cycle`` (two ``INSERT … SELECT`` per tenant, each in its tenant's scope): instances/s.
   Also ``services.start`` one case at a time for ``--sample`` people: the per-case rate.
3. Bulk-approves the largest county's cases (``self_summary`` → ``town_initial``) with
   ``services.bulk_act`` (``UPDATE … RETURNING`` + history rows), then puts them back and runs one
   hand-written SQL ``UPDATE`` of the same rows; alternately ``--repeat`` times, best time counts.
   Prints both rates and the ratio (engine time / bare UPDATE time).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for entry in (ROOT, ROOT / "bench"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

import psycopg
import yaml
from load_tenants import DEFAULT_URL, _conninfo, _sa_url
from psycopg.types.json import Json
from sqlalchemy.engine import make_url
from staffing import build

BENCH_DB = "countydesk_bench_workflows"
SPEC = yaml.safe_load((ROOT / "tenants" / "shishi" / "workflows" / "appraisal.yaml").read_text(encoding="utf-8"))
YEAR = 2025


def ensure_database(url: str) -> str:
    admin = _conninfo(make_url(url).set(database="postgres").render_as_string(hide_password=False))
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (BENCH_DB,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    return make_url(url).set(database=BENCH_DB).render_as_string(hide_password=False)


def reset_workflows(url: str) -> None:
    with psycopg.connect(_conninfo(url)) as conn:
        # CASCADE: appraisal results and 督办 notices point at the cases
        conn.execute("TRUNCATE workflow_vote, workflow_step, workflow_instance, workflow_definition CASCADE")
        conn.execute("INSERT INTO workflow_definition (tenant_id, code, version, name, spec) "
                     "SELECT id, %s, 1, %s, %s FROM tenant", (SPEC["code"], SPEC["name"], Json(SPEC)))
        conn.commit()


def open_cycle(app: Any) -> tuple[int, float]:
    from sqlalchemy import select

    from app.core.models import Tenant
    from app.core.tenancy import tenant_context
    from app.extensions import db
    from app.workflows.services import SYSTEM, start_cycle

    with app.app_context():
        tenant_ids = db.session.scalars(select(Tenant.id).order_by(Tenant.id)).all()
        db.session.rollback()
        t0 = time.perf_counter()
        opened = 0
        for tenant_id in tenant_ids:
            with tenant_context(tenant_id):
                opened += start_cycle(SPEC["code"], actor=SYSTEM, cycle_year=YEAR, now=dt.datetime(YEAR, 1, 2))
        elapsed = time.perf_counter() - t0
        db.session.remove()
    return opened, elapsed


def per_case_starts(app: Any, tenant_id: int, sample: int) -> tuple[int, float]:
    """``services.start`` one case at a time (ORM, one commit each) for people not opened yet."""
    from sqlalchemy import select

    from app.core.tenancy import tenant_context
    from app.extensions import db
    from app.staffing.models import Appointment
    from app.workflows.services import SYSTEM, start

    with app.app_context(), tenant_context(tenant_id):
        people = db.session.scalars(select(Appointment.person_id).where(Appointment.status != "active")
                                    .limit(sample)).all()
        t0 = time.perf_counter()
        for person_id in people:
            start(SPEC["code"], actor=SYSTEM, person_id=person_id, cycle_year=YEAR + 1)
        elapsed = time.perf_counter() - t0
        db.session.remove()
    return len(people), elapsed


def largest_county(url: str) -> tuple[int, int, int]:
    with psycopg.connect(_conninfo(url)) as conn:
        row = conn.execute("SELECT i.tenant_id, o.id, count(*) FROM workflow_instance i "
                           "JOIN org_unit o ON o.tenant_id = i.tenant_id AND o.level = 'county' "
                           "WHERE i.cycle_year = %s GROUP BY i.tenant_id, o.id ORDER BY count(*) DESC LIMIT 1",
                           (YEAR,)).fetchone()
    assert row is not None, "no cases opened"
    return int(row[0]), int(row[1]), int(row[2])


def put_back(url: str, tenant_id: int) -> None:
    with psycopg.connect(_conninfo(url)) as conn:
        conn.execute("DELETE FROM workflow_step WHERE tenant_id = %s AND action = 'submit_summary'", (tenant_id,))
        conn.execute("UPDATE workflow_instance SET state = 'self_summary', step_seq = 0, due_at = NULL "
                     "WHERE tenant_id = %s AND cycle_year = %s", (tenant_id, YEAR))
        conn.commit()


def engine_bulk(app: Any, tenant_id: int, county_id: int) -> tuple[int, float]:
    from app.core.tenancy import tenant_context
    from app.extensions import db
    from app.workflows.services import SYSTEM, bulk_act

    with app.app_context(), tenant_context(tenant_id):
        t0 = time.perf_counter()
        report = bulk_act(SPEC["code"], county_id, "submit_summary", actor=SYSTEM, comment="批量提交")
        elapsed = time.perf_counter() - t0
        db.session.remove()
    return report.moved, elapsed


def bare_update(url: str, tenant_id: int) -> tuple[int, float]:
    with psycopg.connect(_conninfo(url)) as conn:
        t0 = time.perf_counter()
        cur = conn.execute("UPDATE workflow_instance SET state = 'town_initial', step_seq = step_seq + 1, "
                           "row_version = row_version + 1, state_entered_at = now() "
                           "WHERE tenant_id = %s AND definition_code = %s AND state = 'self_summary'",
                           (tenant_id, SPEC["code"]))
        conn.commit()
        return cur.rowcount, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="tiny", choices=["tiny", "province", "national"])
    parser.add_argument("--url", default=os.environ.get("DATABASE_URL") or DEFAULT_URL)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sample", type=int, default=300)
    parser.add_argument("--reuse", action="store_true", help="keep the synthetic country of an earlier run")
    args = parser.parse_args(argv)

    url = _sa_url(ensure_database(args.url))
    sizes = build(url, args.scale, args.reuse)
    reset_workflows(url)
    from app import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": secrets.token_hex(32), "FAB_UPDATE_PERMS": False})
    opened, elapsed = open_cycle(app)
    print(f"open the {YEAR} appraisal: {opened:,} cases in {sizes['tenants']:,} tenants in {elapsed:.2f} s "
          f"= {opened / elapsed:,.0f} instances/s (start_cycle, set-based)")
    tenant_id, county_id, n = largest_county(url)
    best_engine = best_bare = float("inf")
    for _ in range(args.repeat):
        put_back(url, tenant_id)
        moved, el = engine_bulk(app, tenant_id, county_id)
        best_engine = min(best_engine, el)
        put_back(url, tenant_id)
        rows, el2 = bare_update(url, tenant_id)
        best_bare = min(best_bare, el2)
        assert moved == rows == n, (moved, rows, n)
    print(f"bulk approval of one county ({n:,} cases): engine {best_engine * 1000:.0f} ms "
          f"= {n / best_engine:,.0f} instances/s (with history rows); "
          f"one SQL UPDATE {best_bare * 1000:.0f} ms = {n / best_bare:,.0f} rows/s; "
          f"ratio {best_engine / best_bare:.1f}x")
    started, el = per_case_starts(app, tenant_id, args.sample)
    if started:
        print(f"services.start one by one: {started} cases in {el:.2f} s = {started / el:,.0f} instances/s")


if __name__ == "__main__":
    main()

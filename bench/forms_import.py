"""Form import of N monthly-report rows through the real import service against PostgreSQL COPY of the same rows.

    python bench/forms_import.py [--records 100000] [--url URL] [--keep-file]

1. Empties the database of ``--url`` (``DATABASE_URL`` by default; **its public schema is dropped**),
   runs the migrations and writes the synthetic county of ``bench/forms.py`` (20 towns × 400 villages)
   with the Shishi monthly report form, and no records.
2. Writes ``--records`` rows (every village, month after month backwards from 2025-12) as a UTF-8 CSV
   with the form's Chinese headers, as a county would fill the import template.
3. Imports the file with ``app.forms.io_import.import_file`` as the county admin (no HTTP, no job):
   reading, every row checked by the form's schema and rules, bulk insert, audit events — timed as a
   dry run, as the commit, and as a re-run of the same file (which must change nothing).
4. Empties ``form_record`` and writes the same rows (same natural keys and JSON payloads) with psycopg
   ``COPY``; checks both sides hold the same rows (a hash over natural key and payload) and prints
   rows/s of each and the ratio import / COPY (aim ≤ 10×).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import secrets
import sys
import tempfile
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

FORM = "rkjs_monthly"
FORM_FILE = ROOT / "tenants" / "shishi" / "forms" / "monthly_report.yaml"
COLUMNS = (("registered_pop", "户籍人口"), ("resident_pop", "计生常住人口"), ("married_women", "已婚育龄妇女数"),
           ("births", "出生人数"), ("births_in_policy", "其中政策内出生人数"), ("deaths", "死亡人数"),
           ("households", "户数"))


def _rows(records: int) -> list[tuple[str, str, dict[str, int]]]:
    """(village code, period, values): the same villages and months as ``bench/forms.py``."""
    from forms import TOWNS, VILLAGES_PER_TOWN, _periods

    villages = [f"C1T{k}V{j}" for k in range(1, TOWNS + 1) for j in range(1, VILLAGES_PER_TOWN + 1)]
    periods = _periods(-(-records // len(villages)))
    out = []
    for i in range(records):
        births = (i * 7) % 9
        values = {"registered_pop": 2000 + (i * 13) % 4000, "resident_pop": 2100 + (i * 11) % 4000,
                  "married_women": 300 + i % 500, "births": births, "births_in_policy": births,
                  "deaths": (i * 3) % 7, "households": 500 + i % 300}
        out.append((villages[i % len(villages)], periods[len(periods) - 1 - i // len(villages)], values))
    return out


def write_csv(path: Path, rows: list[tuple[str, str, dict[str, int]]]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["单位代码", "期间", *(label for _, label in COLUMNS)])
        for code, period, values in rows:
            writer.writerow([code, period, *(values[c] for c, _ in COLUMNS)])


def fingerprint(url: str) -> tuple[int, str]:
    with psycopg.connect(_conninfo(url)) as conn:
        texts = [r[0] for r in conn.execute(
            f"SELECT natural_key || '|' || data::jsonb::text FROM form_record WHERE form_code = '{FORM}' "
            "ORDER BY natural_key")]
    return len(texts), hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]


def copy_rows(url: str, rows: list[tuple[str, str, dict[str, int]]], field_codes: list[str]) -> tuple[float, float]:
    """Empty form_record, then COPY the same rows; (seconds preparing, seconds of COPY + commit)."""
    started = time.perf_counter()
    with psycopg.connect(_conninfo(url)) as conn:
        conn.execute("TRUNCATE form_record, audit_event")
        ids = dict(conn.execute("SELECT code, id FROM org_unit WHERE tenant_id = 1").fetchall())
        conn.commit()
        lines = []
        for code, period, values in rows:
            org = ids[code]
            data = json.dumps({**dict.fromkeys(field_codes), **values}, ensure_ascii=False)
            lines.append(f"1\t{FORM}\t1\t{org}\t{period}\to{org}|{period}\t{data}\tdraft\t1\n")
        prepared = time.perf_counter()
        with conn.cursor().copy("COPY form_record (tenant_id, form_code, form_version, org_unit_id, period, "
                                "natural_key, data, status, row_version) FROM STDIN") as copy:
            for start in range(0, len(lines), 20_000):
                copy.write("".join(lines[start:start + 20_000]))
        conn.commit()
    return prepared - started, time.perf_counter() - prepared


def run(records: int = 100_000, url: str | None = None, keep_file: bool = False) -> dict[str, Any]:
    """Build, import (dry run, commit, re-run), COPY; print and return the figures."""
    from forms import build

    from app import create_app
    from app.core.tenancy import tenant_context
    from app.extensions import db
    from app.forms.definition import load_form
    from app.forms.io_import import import_file

    url = _sa_url(url or os.environ.get("DATABASE_URL") or DEFAULT_URL)
    print(f"form import benchmark: {records:,} monthly reports, {url.rsplit('@', 1)[-1]}", flush=True)
    build(url, 0)
    rows = _rows(records)
    folder = Path(tempfile.mkdtemp(prefix="cd-bench-import-"))
    path = folder / "月报.csv"
    write_csv(path, rows)
    print(f"  file: {path.stat().st_size / 1e6:.1f} MB CSV", flush=True)
    field_codes = [f.code for f in load_form(yaml.safe_load(FORM_FILE.read_text(encoding="utf-8"))).fields]
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": secrets.token_hex(32), "FAB_UPDATE_PERMS": False})
    times: dict[str, float] = {}
    with app.app_context(), tenant_context(1):
        for label, dry in (("dry run", True), ("commit", False), ("re-run", False)):
            started = time.perf_counter()
            result = import_file(FORM, path, dry_run=dry)
            times[label] = time.perf_counter() - started
            db.session.remove()
            assert result.ok, result.problems[:5]
            print(f"  import {label:8s} {times[label]:8.2f} s  {records / times[label]:10,.0f} rows/s  "
                  f"{result.message}", flush=True)
    assert result.counts.unchanged == records, "a re-run of the same file must change nothing"
    imported = fingerprint(url)
    prepare, copy = copy_rows(url, rows, field_codes)
    copied = fingerprint(url)
    assert imported == copied, f"import and COPY differ: {imported} vs {copied}"
    ratio = times["commit"] / copy
    print(f"  COPY            {copy:8.2f} s  {records / copy:10,.0f} rows/s  (preparing the rows: {prepare:.2f} s)")
    print(f"  same rows on both sides: {copied[0]:,} rows, hash {copied[1]}")
    print(f"  ratio import commit / COPY: {ratio:.1f}×  (aim ≤ 10×); dry run / COPY: {times['dry run'] / copy:.1f}×")
    if not keep_file:
        path.unlink()
        folder.rmdir()
    return {"records": records, "copy_s": copy, **{f"import_{k.replace(' ', '_')}_s": v for k, v in times.items()},
            "ratio": ratio}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--url", default=None, help="SQLAlchemy/psycopg URL (default: DATABASE_URL); schema dropped")
    parser.add_argument("--keep-file", action="store_true", help="keep the generated CSV")
    args = parser.parse_args(argv)
    run(args.records, args.url, args.keep_file)


if __name__ == "__main__":
    # Run by ``bench/forms.py`` (runpy) its own arguments are not ours: use the defaults.
    main(None if Path(sys.argv[0]).name == "forms_import.py" else [])

"""Helpers shared by test modules (import as ``from support import login``).

Kept out of conftest.py: several conftest modules exist, so ``from conftest import`` is ambiguous.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

ROOT = Path(__file__).resolve().parent.parent
TENANTS = ROOT / "tenants"
PASSWORD = "test-pass-123"


def is_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres", "postgresql"))


def login(client: FlaskClient, username: str, password: str = PASSWORD, jwt: bool = True) -> FlaskClient:
    """Log in to the screens (session cookie) and, unless ``jwt=False``, to ``/api/`` (bearer token).

    ``/api/`` accepts only a JWT, so the client then sends the user's token with every request, as an
    API client would; ``jwt=False`` leaves a browser-like client that has the cookie only.
    """
    form = {"username": username, "password": password}
    if client.application.config.get("WTF_CSRF_ENABLED"):  # a test that switched CSRF on: as a browser does
        page = client.get("/login/").get_data(as_text=True)
        form["csrf_token"] = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    resp = client.post("/login/", data=form)
    assert resp.status_code == 302, f"login of {username} failed"
    client.environ_base.pop("HTTP_AUTHORIZATION", None)
    if jwt:
        answer = client.post("/api/v1/security/login",
                             json={"username": username, "password": password, "provider": "db"})
        assert answer.status_code == 200, f"API login of {username} failed"
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {answer.get_json()['access_token']}"
    return client


def drain_jobs(timeout: float = 120.0) -> None:
    """Wait until the real worker (PostgreSQL/Redis run) has no queued or running job.

    A commit can queue follow-up work (a tenant load queues a quota recompute); a test that compares
    database snapshots must let it finish first, or it would see the worker's rows appear mid-test.
    Inline jobs (no Redis) have already run, so this returns at once.
    """
    import time

    from flask import current_app

    queues = current_app.extensions["countydesk_queues"].values()
    if not any(q.is_async for q in queues):
        return
    def idle() -> bool:
        # a job being picked up sits in the intermediate list before the started registry
        return all(q.count == 0 and q.connection.llen(q.intermediate_queue_key) == 0
                   and q.started_job_registry.count == 0 for q in queues)

    deadline = time.monotonic() + timeout
    quiet = 0
    while time.monotonic() < deadline:
        quiet = quiet + 1 if idle() else 0
        if quiet >= 3:  # idle on three looks in a row, not between two steps of the worker
            return
        time.sleep(0.05)
    raise AssertionError("background jobs did not finish in time")


def database_digest(app: Any, tenant_id: int) -> dict[str, str]:
    """Every table's rows as one county's transaction sees them (row-level security included).

    Compare two digests to prove a refused request or command left the database exactly as it was;
    background jobs still running from before are waited for first.
    """
    import hashlib

    from sqlalchemy import select

    from app.core.tenancy import sync_db_tenant
    from app.extensions import db

    digest = {}
    with app.app_context():
        drain_jobs()  # follow-up work of an earlier step (a load queues a recompute) is not this step's change
    with app.app_context(), db.engine.connect() as conn:
        sync_db_tenant(conn, tenant_id)
        for table in db.metadata.sorted_tables:
            rows = sorted(repr(tuple(r)) for r in conn.execute(select(table)))
            digest[table.name] = hashlib.sha256("\n".join(rows).encode()).hexdigest() + f":{len(rows)}"
    return digest


def scope_probe() -> dict[str, Any]:
    """A job body that answers the scope it runs in and the tenant row-level security was told.

    Here, not in a test module, so the real worker of the PostgreSQL/Redis run can import it
    (``bin/test`` puts ``tests/`` on the worker's path).
    """
    from sqlalchemy import text

    from app.core.tenancy import current_scope
    from app.extensions import db

    scope = current_scope()
    setting = None
    if db.session.connection().dialect.name == "postgresql":
        setting = db.session.scalar(text("SELECT current_setting('countydesk.tenant_id', true)"))
    return {"scope": scope.as_dict() if scope else None, "db_tenant": setting}


@contextlib.contextmanager
def stored_unit_name(app: Any, tenant_id: int, text: str) -> Iterator[str]:
    """The county's first village renamed to ``text`` straight in the table, as an old database might hold
    it (no validation on the way in), and its name given back afterwards; yields the old name."""
    from sqlalchemy import select, update

    from app.core.tenancy import tenant_context
    from app.extensions import db
    from app.orgs.models import OrgUnit

    with app.app_context(), tenant_context(tenant_id):
        unit = db.session.scalars(select(OrgUnit).where(OrgUnit.level == "village").order_by(OrgUnit.id)).first()
        unit_id, name = unit.id, unit.name
        db.session.execute(update(OrgUnit).where(OrgUnit.id == unit_id).values(name=text))
        db.session.commit()
    try:
        yield name
    finally:
        with app.app_context(), tenant_context(tenant_id):
            db.session.execute(update(OrgUnit).where(OrgUnit.id == unit_id).values(name=name))
            db.session.commit()

"""Helpers shared by test modules (import as ``from support import login``).

Kept out of conftest.py: several conftest modules exist, so ``from conftest import`` is ambiguous.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

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

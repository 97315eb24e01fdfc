"""Helpers shared by test modules (import as ``from support import login``).

Kept out of conftest.py: several conftest modules exist, so ``from conftest import`` is ambiguous.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask.testing import FlaskClient

ROOT = Path(__file__).resolve().parent.parent
TENANTS = ROOT / "tenants"
PASSWORD = "test-pass-123"


def is_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres", "postgresql"))


def login(client: FlaskClient, username: str, password: str = PASSWORD) -> FlaskClient:
    resp = client.post("/login/", data={"username": username, "password": password})
    assert resp.status_code == 302, f"login of {username} failed"
    return client

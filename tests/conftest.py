"""Shared fixtures: one migrated database per test run (SQLite file, or PostgreSQL from DATABASE_URL).

The demo tenants are loaded once; tests that change data make their own tenants or
clean up after themselves, so no test depends on another's leftovers.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from support import PASSWORD, TENANTS

TEST_SECRET_KEY = secrets.token_hex(32)
# the commands tests run as subprocesses build the app like an operator's, which needs a real key
os.environ.setdefault("SECRET_KEY", TEST_SECRET_KEY)


def _database_url(tmp_root: Path) -> str:
    url = os.environ.get("DATABASE_URL", "").strip()
    return url or f"sqlite:///{tmp_root / 'test.db'}"


def _reset_postgres(url: str) -> None:
    engine = create_engine(_sa_url(url))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def _sa_url(url: str) -> str:
    from app import config

    old = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = url
    try:
        return config._database_url()
    finally:
        if old is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = old


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    from app import create_app
    from app.commands.demo import setup_database

    tmp_root = tmp_path_factory.mktemp("countydesk")
    url = _database_url(tmp_root)
    if url.startswith("postgres"):
        _reset_postgres(url)
    config = {
        "SQLALCHEMY_DATABASE_URI": _sa_url(url),
        "TESTING": True,
        "SECRET_KEY": TEST_SECRET_KEY,
        "WTF_CSRF_ENABLED": False,
        "UPLOAD_FOLDER": str(tmp_root / "files"),
        "AUTH_RATE_LIMIT": "1000 per second",
        "RATELIMIT_STORAGE_URI": "memory://",
    }
    setup_database(config)
    application = create_app(config)
    yield application


@pytest.fixture(scope="session")
def demo(app: Flask) -> dict[str, Any]:
    """Both demo tenants loaded, with one user per role and tenant (password ``PASSWORD``)."""
    from app.core.models import Tenant
    from app.core.tenancy import tenant_context
    from app.extensions import db
    from app.security.services import add_user
    from app.staffing.quotas import recompute_quotas
    from app.tenantio.loader import load_tenant_folder
    from app.workflows.appraisal_demo import load_demo_appraisals

    with app.app_context():
        ids = {}
        for slug in ("shishi", "guanling"):
            report = load_tenant_folder(TENANTS / slug)
            ids[slug] = report.tenant_id
            with tenant_context(report.tenant_id):
                recompute_quotas("2025")
                # results in both tenants (the isolation suite needs rows)
                load_demo_appraisals(dt.date(2025, 1, 15), years=(2024,))
        add_user("ss_admin", role="county_admin", password=PASSWORD, tenant_slug="shishi")
        add_user("ss_town", role="town_clerk", password=PASSWORD, tenant_slug="shishi", scope_code="350581001")
        add_user("ss_village", role="village_worker", password=PASSWORD, tenant_slug="shishi",
                 scope_code=_first_village("350581001"))
        add_user("gl_admin", role="county_admin", password=PASSWORD, tenant_slug="guanling")
        add_user("gl_town", role="town_clerk", password=PASSWORD, tenant_slug="guanling", scope_code="520424001")
        add_user("fj_viewer", role="province_viewer", password=PASSWORD, region="福建省")
        db.session.remove()
        return {"tenant_ids": ids, "tenants": {t.slug: t.id for t in db.session.query(Tenant).all()}}


def _first_village(town_code: str) -> str:
    import csv

    with (TENANTS / "shishi" / "orgunits.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["parent_code"] == town_code and row["level"] == "village":
                return row["code"]
    raise LookupError(town_code)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def copy_tenant(tmp_path: Path):
    """Copy a demo tenant folder (optionally under a new slug) to change it freely in a test."""

    def _copy(slug: str, new_slug: str | None = None) -> Path:
        target = tmp_path / (new_slug or slug)
        shutil.copytree(TENANTS / slug, target)
        if new_slug:
            cfg = target / "tenant.yaml"
            cfg.write_text(cfg.read_text(encoding="utf-8").replace(f"slug: {slug}", f"slug: {new_slug}"),
                           encoding="utf-8")
        return target

    return _copy

"""Start-up warns when the database role bypasses row-level security (superuser or BYPASSRLS)."""

from __future__ import annotations

import logging

import pytest
from flask import Flask
from sqlalchemy import text

from app.core import rls_check
from app.extensions import db
from support import is_postgres

on_postgres = pytest.mark.skipif(not is_postgres(), reason="row-level security exists on PostgreSQL only")


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "countydesk.rls" and r.levelno == logging.WARNING]


@on_postgres
def test_start_up_warns_once_when_connected_as_a_superuser(app, monkeypatch, caplog):
    """The test database is reached as ``postgres``, a superuser: RLS is bypassed and the log says so."""
    from app import create_app

    monkeypatch.setattr(rls_check, "_checked", set())
    caplog.set_level(logging.WARNING, logger="countydesk.rls")
    create_app({**{k: app.config[k] for k in ("SQLALCHEMY_DATABASE_URI", "UPLOAD_FOLDER")},
                "TESTING": True, "FAB_UPDATE_PERMS": False})
    rls_check.warn_if_rls_bypassed(app)  # the same process and database again: not repeated
    messages = _warnings(caplog)
    assert len(messages) == 1
    assert "行级安全（RLS）被绕过" in messages[0] and "普通账号" in messages[0]
    assert "docs/operator/production.md" in messages[0]


@on_postgres
def test_an_ordinary_role_does_not_bypass_rls(app):
    with app.app_context():
        db.session.execute(text(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'countydesk_rls_probe') "
            "THEN CREATE ROLE countydesk_rls_probe NOLOGIN; END IF; END $$"))
        db.session.commit()
        conn = db.session.connection()
        assert rls_check.bypasses_rls(conn)
        db.session.execute(text("SET LOCAL ROLE countydesk_rls_probe"))
        assert not rls_check.bypasses_rls(db.session.connection())
        db.session.rollback()


def test_unreachable_database_is_skipped_quietly(monkeypatch, caplog):
    monkeypatch.setattr(rls_check, "_checked", set())
    caplog.set_level(logging.DEBUG, logger="countydesk.rls")
    offline = Flask(__name__)
    offline.config["SQLALCHEMY_DATABASE_URI"] = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    rls_check.warn_if_rls_bypassed(offline)  # no exception: the commands report the database themselves
    assert _warnings(caplog) == []
    assert any("skipped" in r.getMessage() for r in caplog.records if r.name == "countydesk.rls")


def test_sqlite_has_nothing_to_check(monkeypatch, caplog):
    monkeypatch.setattr(rls_check, "_checked", set())
    caplog.set_level(logging.DEBUG, logger="countydesk.rls")
    local = Flask(__name__)
    local.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///:memory:"
    rls_check.warn_if_rls_bypassed(local)
    assert [r for r in caplog.records if r.name == "countydesk.rls"] == []
    assert rls_check._checked == set()

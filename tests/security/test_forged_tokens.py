"""A session cookie or a JWT signed with any key but the deployment's own is refused.

Before the secret had to be set, a built-in key signed every cookie and token whenever
``SECRET_KEY`` was missing: anyone who read the source could log in as any user id, the
platform admin included. These tests sign both kinds of credential with keys an attacker
could know and check that the app, configured with its own secret, treats them as nobody.
"""

from __future__ import annotations

import datetime as dt

import jwt
import pytest
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select

from app.extensions import db
from app.security.models import CountyUser
from support import PASSWORD

KNOWN_KEYS = ["countydesk-dev-secret-change-me", "secret", "changeme", "", "0" * 64]
"""The key that used to be built in, and keys a guesser tries first."""


def _user_id(app, username: str) -> int:
    with app.app_context():
        return db.session.scalar(select(CountyUser.id).where(CountyUser.username == username))


def _forged_cookie(key: str, user_id: int) -> str:
    """A Flask-Login session cookie for ``user_id``, signed with ``key`` exactly as Flask signs it."""
    interface = SecureCookieSessionInterface()
    serializer = URLSafeTimedSerializer(key, salt=interface.salt, serializer=interface.serializer,
                                        signer_kwargs={"key_derivation": interface.key_derivation,
                                                       "digest_method": interface.digest_method})
    return serializer.dumps({"_user_id": str(user_id), "_fresh": True, "_id": "forged"})


def _forged_jwt(key: str, user_id: int) -> str:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    claims = {"sub": str(user_id), "fresh": True, "type": "access", "jti": "forged",
              "iat": now, "nbf": now, "exp": now + dt.timedelta(days=36500)}
    return jwt.encode(claims, key or "x", algorithm="HS256")


def test_the_deployment_has_its_own_secret(app):
    assert app.config["SECRET_KEY"] not in KNOWN_KEYS
    assert len(app.config["SECRET_KEY"].encode()) >= 32


@pytest.mark.parametrize("key", KNOWN_KEYS)
def test_a_session_cookie_signed_with_a_known_key_logs_nobody_in(app, demo, key):
    admin_id = _user_id(app, "admin") or _user_id(app, "ss_admin")
    client = app.test_client()
    client.set_cookie("session", _forged_cookie(key, admin_id))
    resp = client.get("/")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert client.get("/personview/list/").status_code in (302, 401, 403)


def test_the_same_cookie_signed_with_the_real_key_is_accepted(app, demo):
    """The forgery above fails because of the key, not because the cookie is malformed."""
    client = app.test_client()
    client.set_cookie("session", _forged_cookie(app.config["SECRET_KEY"], _user_id(app, "ss_admin")))
    assert client.get("/").status_code == 200


@pytest.mark.parametrize("key", KNOWN_KEYS)
def test_a_jwt_signed_with_a_known_key_is_refused(app, demo, key):
    client = app.test_client()
    token = _forged_jwt(key, _user_id(app, "ss_admin"))
    resp = client.get("/api/v1/person/", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code in (401, 422)
    assert "result" not in (resp.get_json(silent=True) or {})


def test_a_jwt_from_the_login_endpoint_is_accepted(app, demo):
    client = app.test_client()
    resp = client.post("/api/v1/security/login",
                       json={"username": "ss_admin", "password": PASSWORD, "provider": "db"})
    token = resp.get_json()["access_token"]
    assert client.get("/api/v1/person/", headers={"Authorization": f"Bearer {token}"}).status_code == 200

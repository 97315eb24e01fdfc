"""Failed logins are limited on the web form and the JWT login, per address and per account.

A second app on the same database carries a small limit (3 failures a minute); the clock is frozen and
moved past the window instead of waiting for it.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from flask import Flask

from support import PASSWORD

LIMIT = 3
API = "/api/v1/security/login"
REFUSAL = re.compile(r"登录尝试过于频繁，请 (\d+) 秒后再试")
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def _limited_app(app: Flask, storage: str, **extra: Any) -> Flask:
    from app import create_app

    return create_app({**{k: app.config[k] for k in ("SQLALCHEMY_DATABASE_URI", "UPLOAD_FOLDER")},
                       "TESTING": True, "WTF_CSRF_ENABLED": False, "FAB_UPDATE_PERMS": False,
                       "AUTH_RATE_LIMIT": f"{LIMIT} per 60 second", "RATELIMIT_STORAGE_URI": storage, **extra})


@pytest.fixture(scope="module")
def limited(app: Flask, demo: dict[str, Any]) -> Flask:
    return _limited_app(app, "memory://")


@pytest.fixture
def clock(limited: Flask) -> Iterator[Any]:
    limited.appbuilder.sm.limiter.reset()  # type: ignore[attr-defined]
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def _api(client: Any, username: str, password: str, address: str = "127.0.0.1") -> Any:
    return client.post(API, json={"username": username, "password": password, "provider": "db"},
                       environ_overrides={"REMOTE_ADDR": address})


def _web(client: Any, username: str, password: str, address: str = "127.0.0.1") -> Any:
    return client.post("/login/", data={"username": username, "password": password},
                       environ_overrides={"REMOTE_ADDR": address})


def test_api_login_refuses_even_the_right_password_until_the_window_passes(limited, clock):
    client = limited.test_client()
    assert [_api(client, "gl_admin", "wrong").status_code for _ in range(LIMIT)] == [401] * LIMIT
    refused = _api(client, "gl_admin", "wrong")
    assert refused.status_code == 429
    match = REFUSAL.fullmatch(refused.get_json()["message"])
    assert match and 1 <= int(match.group(1)) <= 60
    assert refused.headers["Retry-After"] == match.group(1)
    assert _api(client, "gl_admin", PASSWORD).status_code == 429
    clock.shift(61)
    ok = _api(client, "gl_admin", PASSWORD)
    assert ok.status_code == 200 and ok.get_json()["access_token"]


def test_web_login_refusal_keeps_the_username(limited, clock):
    client = limited.test_client()
    assert [_web(client, "gl_admin", "wrong").status_code for _ in range(LIMIT)] == [302] * LIMIT
    refused = _web(client, "gl_admin", PASSWORD)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 429
    assert REFUSAL.search(page)
    assert re.search(r'name="username"[^>]*value="gl_admin"|value="gl_admin"[^>]*name="username"', page)
    assert PASSWORD not in page
    clock.shift(61)
    ok = _web(client, "gl_admin", PASSWORD)
    assert ok.status_code == 302 and "/login" not in ok.headers["Location"]


def test_web_and_api_failures_count_together(limited, clock):
    client = limited.test_client()
    assert _web(client, "gl_admin", "wrong").status_code == 302
    assert _web(client, "gl_admin", "wrong").status_code == 302
    assert _api(client, "gl_admin", "wrong").status_code == 401
    assert _api(client, "gl_admin", PASSWORD).status_code == 429
    assert _web(client, "gl_admin", PASSWORD).status_code == 429


def test_one_account_guessed_from_many_addresses_is_limited(limited, clock):
    client = limited.test_client()
    for i in range(LIMIT):
        assert _api(client, "gl_admin", "wrong", address=f"10.0.0.{i + 1}").status_code == 401
    assert _api(client, "gl_admin", PASSWORD, address="10.0.0.99").status_code == 429
    # the new address itself is not blocked: another account logs in from it
    assert _api(client, "gl_town", PASSWORD, address="10.0.0.99").status_code == 200


def test_many_accounts_guessed_from_one_address_are_limited(limited, clock):
    client = limited.test_client()
    for name in ("nobody1", "nobody2", "nobody3"):
        assert _api(client, name, "wrong").status_code == 401
    assert _api(client, "gl_town", PASSWORD).status_code == 429
    assert _api(client, "gl_town", PASSWORD, address="10.0.1.1").status_code == 200


def test_behind_nginx_the_forwarded_client_is_counted(app, demo):
    """Every request reaches the app from nginx's address; the client is the entry nginx appended."""
    behind_nginx = _limited_app(app, "memory://", COUNTYDESK_TRUSTED_PROXIES=1)
    client = behind_nginx.test_client()

    def via_nginx(username: str, password: str, client_ip: str, forged: str = "") -> int:
        chain = f"{forged}, {client_ip}" if forged else client_ip
        return client.post(API, json={"username": username, "password": password, "provider": "db"},
                           headers={"X-Forwarded-For": chain}).status_code

    with time_machine.travel(T0, tick=False):
        for i, name in enumerate(("nobody1", "nobody2", "nobody3")):
            assert via_nginx(name, "wrong", "203.0.113.7", forged=f"198.51.100.{i}") == 401  # forged entry ignored
        assert via_nginx("gl_town", PASSWORD, "203.0.113.7") == 429
        assert via_nginx("gl_town", PASSWORD, "203.0.113.8") == 200  # another client behind the same nginx


def test_successful_logins_are_not_counted(limited, clock):
    """A county office behind one address logs all its clerks in each morning."""
    client = limited.test_client()
    assert [_api(client, "gl_admin", PASSWORD).status_code for _ in range(LIMIT + 3)] == [200] * (LIMIT + 3)
    assert [_web(limited.test_client(), "gl_town", PASSWORD).status_code for _ in range(LIMIT + 3)] \
        == [302] * (LIMIT + 3)


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (REDIS_URL)")
def test_redis_counts_are_shared_between_processes(app, demo):
    """Two app instances (as two server processes) on one Redis: the limit holds across them."""
    first, second = (_limited_app(app, os.environ["REDIS_URL"]) for _ in range(2))
    first.appbuilder.sm.limiter.reset()  # type: ignore[attr-defined]
    try:
        assert _api(first.test_client(), "nobody-redis", "wrong").status_code == 401
        assert _api(second.test_client(), "nobody-redis", "wrong").status_code == 401
        assert _web(first.test_client(), "nobody-redis", "wrong").status_code == 302
        assert _api(second.test_client(), "nobody-redis", "wrong").status_code == 429
        assert _web(first.test_client(), "nobody-redis", "wrong").status_code == 429
    finally:
        first.appbuilder.sm.limiter.reset()  # type: ignore[attr-defined]

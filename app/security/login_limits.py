"""Failed logins are limited per client address and per account, on the web form and the JWT login alike.

FAB's own ``AUTH_RATE_LIMIT`` covers only the web form and counts per address, so the API login
(``POST /api/v1/security/login``) took any number of guesses, and a slow guess at one account from many
addresses was never stopped. Here both login endpoints share two counters of ``AUTH_RATE_LIMIT``
(e.g. ``10 per 60 second``): one per client address, one per username. Only failed attempts count, so a
county office behind one address can still log its clerks in each morning; once a counter is full,
every attempt it covers is refused with 429 until its window passes, the right password included.

The counts live in ``RATELIMIT_STORAGE_URI``: Redis (``REDIS_URL``) shares them between all server
processes; ``memory://`` keeps them per process, so N processes allow N times the limit.
The client address is ``request.remote_addr``: behind ``COUNTYDESK_TRUSTED_PROXIES`` proxies (nginx: 1)
the app-wide ``ProxyFix`` (``app.security.web_protection``) sets it from the entry they appended to
``X-Forwarded-For``; without it, every client behind nginx would share one counter.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, flash, jsonify, make_response, request
from flask_limiter import Limiter, RequestLimit
from flask_limiter.util import get_remote_address
from flask_login import current_user

from app.core import clock

WEB_LOGIN = "AuthDBView.login"
API_LOGIN = "SecurityApi.login"
LOGIN_ENDPOINTS = (WEB_LOGIN, API_LOGIN)
MAX_USERNAME = 128


def refusal_message(seconds: int) -> str:
    return f"登录尝试过于频繁，请 {seconds} 秒后再试"


def _limit() -> str:
    return str(current_app.config["AUTH_RATE_LIMIT"])


def _address_key() -> str:
    return "address:" + get_remote_address()


def _username() -> str:
    if request.is_json:
        body = request.get_json(silent=True)
        name = body.get("username") if isinstance(body, dict) else None
    else:
        name = request.form.get("username")
    return str(name or "").strip().lower()[:MAX_USERNAME]


def _username_key() -> str:
    return "user:" + _username()


def _failed(response: Response) -> bool:
    """A login that did not let the user in (the web form redirects either way: ask Flask-Login)."""
    if request.endpoint == API_LOGIN:
        return response.status_code != 200
    return not getattr(current_user, "is_authenticated", False)


def _retry_after(limit: RequestLimit) -> int:
    return max(1, math.ceil(limit.window.reset_time - clock.now().timestamp()))


def _refuse(limit: RequestLimit) -> Response:
    seconds = _retry_after(limit)
    message = refusal_message(seconds)
    if request.endpoint == API_LOGIN:
        response = make_response(jsonify({"message": message}), 429)
    else:
        response = make_response(_login_page(message), 429)
    response.headers["Retry-After"] = str(seconds)
    return response


def _login_page(message: str) -> str:
    """FAB's login page again, the typed username kept (the password never is), with the refusal on top."""
    from flask_appbuilder.security.forms import LoginForm_db

    view = current_app.appbuilder.sm.auth_view  # type: ignore[attr-defined]
    flash(message, "danger")
    form = LoginForm_db()
    return view.render_template(view.login_template, title=view.title, form=form,  # type: ignore[no-any-return]
                                appbuilder=view.appbuilder)


def _limited(limiter: Limiter, view: Callable[..., Any]) -> Callable[..., Any]:
    for scope, key in (("login-address", _address_key), ("login-user", _username_key)):
        view = limiter.shared_limit(_limit, scope=scope, key_func=key, methods=["POST"], deduct_when=_failed,
                                    on_breach=_refuse)(view)
    return view


def install(app: Flask, limiter: Limiter) -> None:
    """Wrap both login endpoints (already registered by FAB) in the shared limits; off with AUTH_RATE_LIMITED."""
    if not app.config.get("AUTH_RATE_LIMITED"):
        return
    for endpoint in LOGIN_ENDPOINTS:
        view = app.view_functions.get(endpoint)
        if view is not None:
            app.view_functions[endpoint] = _limited(limiter, view)

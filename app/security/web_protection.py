"""Browser-facing protection: one CSRF check for every screen, security headers, unknown actions as 404.

Why one global ``CSRFProtect``: hand-made checks per screen were forgotten on half the POST routes.
Bound before FAB registers its views, so FAB exempts its ``/api/`` blueprints (they accept only a
JWT, never the session cookie, so a cross-site page cannot ride on them) and refuses deletes and
row actions sent by GET (``BaseView.is_get_mutation_allowed`` looks for ``extensions["csrf"]``).

Headers come from flask-talisman.  The Content-Security-Policy uses a per-request nonce for
scripts rather than ``'unsafe-inline'``: FAB 5's templates already print ``nonce="{{ csp_nonce() }}"``
on every ``<script>`` (through ``baselib.get_nonce``) and ours do the same, so an injected inline
script or ``on…=`` handler does not run.  Styles keep ``'unsafe-inline'``: FAB's and our templates
use ``style=`` attributes, which a nonce cannot cover, and styles cannot run code.  Every asset is
served by the application itself.  One exception the policy cannot stop: FAB's user-statistics chart
loads Google's chart loader, which passes its nonce on to the script it fetches from the internet
(a nonce allows any source); without internet access that chart stays empty.
Redirecting http to https is left to the TLS proxy in front;
``COUNTYDESK_HTTPS=1`` makes the cookies ``Secure`` and adds HSTS on requests that came over HTTPS.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, abort, request
from flask_talisman import Talisman
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data:",
    "font-src": "'self' data:",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}

_ACTION_ENDPOINTS = {"action", "action_post"}


def install(app: Flask) -> None:
    """Call before FAB registers its views (the API blueprints are CSRF-exempted as they are made)."""
    https = bool(app.config.get("COUNTYDESK_HTTPS"))
    hops = int(app.config.get("COUNTYDESK_TRUSTED_PROXIES") or 0)
    if hops > 0:
        # the client's address and scheme as the trusted proxies saw them (login limits, Secure cookies,
        # HSTS, redirects); entries a client forged into X-Forwarded-For come first and are ignored
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    # Talisman first: its nonce must exist even when the CSRF check refuses the request early.
    Talisman(
        app,
        force_https=False,
        frame_options="DENY",
        content_security_policy=CSP,
        content_security_policy_nonce_in=["script-src"],
        referrer_policy="same-origin",
        strict_transport_security=https,
        session_cookie_secure=bool(app.config.get("SESSION_COOKIE_SECURE")),
        session_cookie_http_only=bool(app.config.get("SESSION_COOKIE_HTTPONLY", True)),
        session_cookie_samesite=app.config.get("SESSION_COOKIE_SAMESITE", "Lax"),
        x_content_type_options=True,
    )
    CSRFProtect(app)
    app.before_request(_unknown_action_is_not_found)


def _unknown_action_is_not_found() -> None:
    """FAB's ``/<view>/action/<name>/<pk>`` (and ``action_post``) raise KeyError for a name the view lacks."""
    endpoint = request.endpoint or ""
    blueprint, _, method = endpoint.rpartition(".")
    if method not in _ACTION_ENDPOINTS:
        return
    view = _fab_view(blueprint)
    if view is None or not hasattr(view, "actions"):
        return
    name = (request.view_args or {}).get("name") if method == "action" else request.form.get("action")
    if name not in view.actions:
        abort(404)


def _fab_view(blueprint: str) -> Any:
    from app.extensions import get_appbuilder

    return next((v for v in get_appbuilder().baseviews if getattr(v, "endpoint", None) == blueprint), None)

"""Security headers on every answer, cookies a cross-site request does not carry, pages the CSP lets run,
the tenant switch that never leaves the site, and unknown row actions answered 404."""

from __future__ import annotations

import re

import pytest
from lxml import html as lxml_html

from app.config import load_config
from support import login

HEADERS = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}
CSP_PARTS = ("default-src 'self'", "object-src 'none'", "base-uri 'self'", "form-action 'self'",
             "frame-ancestors 'none'", "img-src 'self' data:")
TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _assert_protected(resp) -> None:
    for name, value in HEADERS.items():
        assert resp.headers.get(name) == value, (name, resp.headers.get(name))
    csp = resp.headers["Content-Security-Policy"]
    for part in CSP_PARTS:
        assert part in csp, part
    assert re.search(r"script-src 'self' 'nonce-[\w-]+'", csp) and "'unsafe-inline'" not in csp.split("style-src")[0]


def test_a_page_an_api_answer_a_static_file_and_an_error_carry_the_headers(app, demo, client):
    _assert_protected(client.get("/login/"))
    _assert_protected(client.get("/static/appbuilder/css/ab.css"))
    _assert_protected(client.get("/no/such/page"))
    api = login(app.test_client(), "ss_admin")
    answer = api.get("/api/v1/person/?q=(page_size:1)")
    assert answer.status_code == 200
    _assert_protected(answer)
    assert "Strict-Transport-Security" not in answer.headers  # plain HTTP: no HSTS


def test_the_session_cookie_is_lax_and_hidden_from_scripts(app, demo):
    resp = app.test_client().post("/login/", data={"username": "ss_admin", "password": "test-pass-123"})
    cookie = next(c for c in resp.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "SameSite=Lax" in cookie and "HttpOnly" in cookie and "Secure" not in cookie


def test_behind_https_cookies_are_secure_and_hsts_is_sent(app, demo):
    from app import create_app

    assert load_config({"COUNTYDESK_HTTPS": True})["REMEMBER_COOKIE_SECURE"] is True
    keys = ("SECRET_KEY", "SQLALCHEMY_DATABASE_URI", "TESTING", "UPLOAD_FOLDER", "AUTH_RATE_LIMIT",
            "RATELIMIT_STORAGE_URI", "WTF_CSRF_ENABLED")
    secure = create_app({**{k: app.config[k] for k in keys}, "COUNTYDESK_HTTPS": True, "FAB_UPDATE_PERMS": False})
    client = secure.test_client()
    resp = client.post("/login/", data={"username": "ss_admin", "password": "test-pass-123"},
                       base_url="https://localhost")
    cookie = next(c for c in resp.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "Secure" in cookie and "SameSite=Lax" in cookie
    assert resp.headers["Strict-Transport-Security"].startswith("max-age=")


PAGES = ("/", "/personview/list/", "/personview/add", "/positionview/list/", "/staffingquotaview/list/",
         "/formula_editor/", "/workflows/", "/forms/", "/form-designer/new", "/workflow-designer/new",
         "/documents/import/population", "/auditeventview/list/", "/swagger/v1")


@pytest.mark.parametrize("path", PAGES)
def test_every_script_of_a_page_carries_the_nonce_and_no_asset_comes_from_elsewhere(app, demo, csrf_on, path):
    client = login(app.test_client(), "ss_admin")
    resp = client.get(path)
    assert resp.status_code == 200, path
    nonce = re.search(r"'nonce-([\w-]+)'", resp.headers["Content-Security-Policy"]).group(1)
    doc = lxml_html.fromstring(resp.get_data(as_text=True))
    scripts = doc.xpath("//script")
    assert scripts and all(s.get("nonce") == nonce for s in scripts), path
    handlers = [(el.tag, a) for el in doc.iter() if isinstance(el.tag, str) for a in el.attrib if a.startswith("on")]
    assert handlers == [], path  # an on…= attribute would not run under the CSP
    urls = [u for u in doc.xpath("//script/@src | //link/@href | //img/@src | //a/@href")]
    assert not [u for u in urls if u.strip().lower().startswith("javascript:")], path
    assert all(not re.match(r"(https?:)?//", u) for u in doc.xpath("//script/@src | //link/@href")), path
    for form in doc.xpath("//form[translate(@method, 'POST', 'post') = 'post']"):
        assert form.xpath(".//input[@name='csrf_token' and @value!='']"), (path, form.get("action"))


def _token(client) -> str:
    return TOKEN.search(client.get("/").get_data(as_text=True)).group(1)


def test_the_tenant_switch_is_a_post_and_stays_on_the_site(app, demo, csrf_on):
    shishi = demo["tenant_ids"]["shishi"]
    viewer = login(app.test_client(), "fj_viewer")
    assert f'action="/tenant/switch/{shishi}"' in viewer.get("/").get_data(as_text=True)
    assert viewer.get(f"/tenant/switch/{shishi}").status_code == 405  # a link or an <img> cannot switch
    assert viewer.post(f"/tenant/switch/{shishi}").status_code == 400  # nor another site's form
    token = _token(viewer)
    away = viewer.post(f"/tenant/switch/{shishi}", data={"csrf_token": token},
                       headers={"Referer": "https://evil.example/phish"})
    assert away.status_code == 302 and away.headers["Location"] == "/"
    for referer in ("//evil.example/x", "http://evil.example/", "javascript:alert(1)", "/\\evil.example"):
        resp = viewer.post(f"/tenant/switch/{shishi}", data={"csrf_token": token}, headers={"Referer": referer})
        assert resp.headers["Location"] == "/", referer
    back = viewer.post(f"/tenant/switch/{shishi}", data={"csrf_token": token},
                       headers={"Referer": "http://localhost/staffingquotaview/list/?_flt_0_period=2025"})
    assert back.headers["Location"] == "/staffingquotaview/list/?_flt_0_period=2025"
    assert "石狮" in viewer.get("/").get_data(as_text=True)


@pytest.mark.parametrize("view", ["personview", "positionview", "users", "roles"])
def test_an_unknown_row_action_is_not_found(app, demo, view):
    admin = login(app.test_client(), "ss_admin")
    assert admin.get(f"/{view}/action/no_such_action/1").status_code == 404
    assert admin.post(f"/{view}/action/no_such_action/1").status_code == 404
    assert admin.post(f"/{view}/action_post", data={"action": "no_such_action", "rowid": "1"}).status_code == 404

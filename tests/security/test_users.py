"""Users: the CLI, password hashing, JWT API access and the login rate limit."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.security.models import CountyUser
from support import PASSWORD, login


def _cli(app, *args):
    from app.cli import _register_commands, cli

    _register_commands()
    return app.test_cli_runner().invoke(cli, list(args))


def test_user_add_cli_creates_scoped_user_with_hashed_password(app, demo):
    result = _cli(app, "user", "add", "cli_clerk", "--tenant", "guanling", "--role", "town_clerk",
                  "--scope", "520424002", "--password", "s3cret-pw")
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = db.session.scalar(select(CountyUser).where(CountyUser.username == "cli_clerk"))
        assert user.password != "s3cret-pw" and user.password.startswith(("scrypt:", "pbkdf2:"))
        assert user.scope_org_id is not None and [r.name for r in user.roles] == ["镇录入员"]
    client = app.test_client()
    assert "520424002" in login(client, "cli_clerk", "s3cret-pw").get("/").get_data(as_text=True)


def test_user_add_cli_binds_a_county_admin_to_the_department_they_speak_for(app, demo):
    result = _cli(app, "user", "add", "cli_rsj", "--tenant", "shishi", "--role", "county_admin",
                  "--party", "人社局", "--password", "s3cret-pw")
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = db.session.scalar(select(CountyUser).where(CountyUser.username == "cli_rsj"))
        assert user.party == "人社局"
        db.session.delete(user)
        db.session.commit()


def test_user_add_cli_rejects_bad_input_in_chinese(app, demo):
    cases = [
        (["--tenant", "guanling", "--role", "mayor"], "未知角色"),
        (["--tenant", "nowhere", "--role", "county_admin"], "不存在"),
        (["--tenant", "guanling", "--role", "town_clerk"], "需要 --scope"),
        (["--tenant", "guanling", "--role", "town_clerk", "--scope", "520424001001"], "范围必须是镇"),
        (["--role", "province_viewer"], "--region"),
        (["--tenant", "guanling", "--region", "贵州省", "--role", "province_viewer"], "只给 --region"),
    ]
    for args, message in cases:
        result = _cli(app, "user", "add", "bad_user", *args, "--password", "x1234567")
        assert result.exit_code != 0 and message in result.output, (args, result.output)
    with app.app_context():
        assert db.session.scalar(select(CountyUser).where(CountyUser.username == "bad_user")) is None


def test_jwt_api_is_scoped_and_documented(app, demo):
    client = app.test_client()
    resp = client.post("/api/v1/security/login", json={"username": "gl_admin", "password": PASSWORD,
                                                       "provider": "db"})
    assert resp.status_code == 200
    token = resp.get_json()["access_token"]
    rows = client.get("/api/v1/org_unit/?q=(page_size:100)", headers={"Authorization": f"Bearer {token}"})
    assert rows.status_code == 200
    assert rows.get_json()["result"] and all(r["code"].startswith("520424") for r in rows.get_json()["result"])
    people = client.get("/api/v1/person/?q=(page_size:5)", headers={"Authorization": f"Bearer {token}"})
    masked = people.get_json()["result"][0]["id_number_masked"]
    assert "**********" in masked and len(masked) == 18
    spec = client.get("/api/v1/_openapi", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert "/api/v1/org_unit/" in spec["paths"] and "/api/v1/person/{pk}" in spec["paths"]


def test_login_is_rate_limited(app, demo):
    from app import create_app

    limited = create_app({**{k: app.config[k] for k in ("SQLALCHEMY_DATABASE_URI", "UPLOAD_FOLDER")},
                          "TESTING": True, "WTF_CSRF_ENABLED": False, "AUTH_RATE_LIMIT": "3 per minute",
                          "RATELIMIT_STORAGE_URI": "memory://"})
    client = limited.test_client()
    codes = [client.post("/login/", data={"username": "gl_admin", "password": "wrong"}).status_code
             for _ in range(5)]
    assert codes[-1] == 429

"""Settings read from the environment.

Defaults run with no service at all: a SQLite file in ``instance/`` and jobs executed
inline. ``DATABASE_URL`` and ``REDIS_URL`` switch to PostgreSQL and Redis.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        return f"sqlite:///{ROOT / 'instance' / 'countydesk.db'}"
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


MIN_SECRET_BYTES = 32
SECRET_KEY_HINT = ("SECRET_KEY 未设置或太短（至少 32 字节）：请设置环境变量 SECRET_KEY，例如 export SECRET_KEY="
                   "$(python3 -c \"import secrets; print(secrets.token_hex(32))\")")
DEMO_SECRET_FILE = ROOT / "instance" / "secret_key"


class StartupError(RuntimeError):
    """A setting an operator must fix before anything runs; the CLI prints it as one line, no traceback."""


def _secret_key() -> str:
    """The deployment's own key; only the demo (``COUNTYDESK_DEMO=1``) may fall back to a generated one."""
    key = os.environ.get("SECRET_KEY", "").strip()
    if key or os.environ.get("COUNTYDESK_DEMO") != "1":
        return key
    return demo_secret_key()


def demo_secret_key(path: Path = DEMO_SECRET_FILE) -> str:
    """Generated once (mode 600) and reused, so demo sessions survive a restart of ``bin/demo``."""
    import secrets

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    key = secrets.token_hex(32)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key + "\n")
    return key


def check_secret_key(cfg: dict[str, Any]) -> None:
    """Refuse to sign cookies and tokens with a guessable key; tests bring their own (``TESTING``)."""
    if cfg.get("TESTING"):
        return
    if len(str(cfg.get("SECRET_KEY") or "").encode()) < MIN_SECRET_BYTES:
        raise StartupError(SECRET_KEY_HINT)


def load_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the Flask config mapping; ``overrides`` win over the environment."""
    cfg: dict[str, Any] = {
        "SECRET_KEY": _secret_key(),
        "SQLALCHEMY_DATABASE_URI": _database_url(),
        "SQLALCHEMY_TRACK_MODIFICATIONS": False,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": os.environ.get("REDIS_URL", "").strip() or None,
        "APP_NAME": "CountyDesk 村级计生工作队伍管理平台",
        "APP_THEME": "",
        # FAB: our own user model and role definitions
        "FAB_SECURITY_MANAGER_CLASS": "app.security.manager.CountySecurityManager",
        "AUTH_TYPE": 1,  # AUTH_DB
        "AUTH_ROLE_ADMIN": "Admin",
        "AUTH_ROLE_PUBLIC": "Public",
        "AUTH_USER_REGISTRATION": False,
        "AUTH_RATE_LIMITED": True,
        "RATELIMIT_ENABLED": True,  # FAB defaults it off, which silently disables AUTH_RATE_LIMIT
        "AUTH_RATE_LIMIT": os.environ.get("AUTH_RATE_LIMIT", "10 per 60 second"),
        "RATELIMIT_STORAGE_URI": os.environ.get("REDIS_URL", "").strip() or "memory://",
        # proxies in front (nginx: 1) whose X-Forwarded-For names the client for the login limits
        "COUNTYDESK_TRUSTED_PROXIES": int(os.environ.get("COUNTYDESK_TRUSTED_PROXIES", "0") or 0),
        "FAB_API_SWAGGER_UI": True,
        "FAB_ADD_SECURITY_API": False,
        "FAB_UPDATE_PERMS": os.environ.get("FAB_UPDATE_PERMS", "1") == "1",
        # Tables are created by migrations (``countydesk db upgrade``), never by FAB at start-up.
        "FAB_CREATE_DB": False,
        "FAB_API_MAX_PAGE_SIZE": 500,
        "WTF_CSRF_ENABLED": True,
        # cookies: never sent by another site's POST, not readable by scripts; Secure behind HTTPS
        "COUNTYDESK_HTTPS": os.environ.get("COUNTYDESK_HTTPS", "0") == "1",
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "BABEL_DEFAULT_LOCALE": "zh",
        "BABEL_DEFAULT_FOLDER": "translations",
        "BABEL_TRANSLATION_DIRECTORIES": "translations",
        "LANGUAGES": {
            "zh": {"flag": "cn", "name": "中文"},
            "en": {"flag": "gb", "name": "English"},
        },
        "JWT_ACCESS_TOKEN_EXPIRES": 3600,
        "COUNTYDESK_PLUGINS": os.environ.get("COUNTYDESK_PLUGINS"),
        "UPLOAD_FOLDER": str(ROOT / "instance" / "files"),
        "COUNTYDESK_MAX_UPLOAD_MB": float(os.environ.get("COUNTYDESK_MAX_UPLOAD_MB", "20")),
        # rows one imported file may hold (tenant folder, upload, CLI); a bigger file is refused whole
        "COUNTYDESK_MAX_IMPORT_ROWS": int(os.environ.get("COUNTYDESK_MAX_IMPORT_ROWS", "200000") or 200000),
        "COUNTYDESK_CJK_FONT": os.environ.get("COUNTYDESK_CJK_FONT", "").strip() or None,
        # the scheduled tick runs the daily checks (term expiry …); off for a worker serving a test suite
        "COUNTYDESK_DAILY_CHECKS": os.environ.get("COUNTYDESK_DAILY_CHECKS", "1") != "0",
    }
    if overrides:
        cfg.update(overrides)
    cfg.setdefault("SESSION_COOKIE_SECURE", bool(cfg["COUNTYDESK_HTTPS"]))
    cfg.setdefault("REMEMBER_COOKIE_SECURE", bool(cfg["COUNTYDESK_HTTPS"]))
    # request body = the file plus a little form overhead; bigger bodies get 413 before parsing
    cfg.setdefault("MAX_CONTENT_LENGTH", int((float(cfg["COUNTYDESK_MAX_UPLOAD_MB"]) + 1) * 1024 * 1024))
    return cfg

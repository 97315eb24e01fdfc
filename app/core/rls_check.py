"""Warn at start-up when PostgreSQL's row-level security cannot protect the data.

The tenant policies (migrations ``0002_row_level_security`` and later) are the second wall behind the
ORM's tenant filter, but PostgreSQL skips every policy for a superuser and for a role with BYPASSRLS,
even with FORCE ROW LEVEL SECURITY. Such a connection works normally, so nothing else would show that
the second wall is down: the operator is told once per process, in the log.
"""

from __future__ import annotations

import logging

from flask import Flask
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

log = logging.getLogger("countydesk.rls")

BYPASS_QUERY = text("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user")
WARNING = ("数据库账号 %s 是超级用户或具有 BYPASSRLS 属性，行级安全（RLS）被绕过，县与县之间的数据只剩应用层隔离；"
           "生产环境请用普通账号连接（见 docs/operator/production.md「数据库账号」）")

CONNECT_TIMEOUT = 3
"""Seconds: a database host that does not answer must not hold up the start."""

_checked: set[str] = set()


def bypasses_rls(conn: Connection) -> bool:
    """True when the connection's current role skips row-level security policies."""
    return bool(conn.execute(BYPASS_QUERY).scalar())


def warn_if_rls_bypassed(app: Flask) -> None:
    """Log the warning once per process and database; an unreachable database is skipped quietly.

    A throw-away connection (no pool): nothing opened here is inherited by forked server workers.
    """
    url = str(app.config.get("SQLALCHEMY_DATABASE_URI") or "")
    if not url.startswith("postgresql") or url in _checked:
        return
    _checked.add(url)
    engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT})
    try:
        with engine.connect() as conn:
            bypassed = bypasses_rls(conn)
            user = conn.execute(text("SELECT current_user")).scalar()
    except SQLAlchemyError as exc:  # not reachable yet, or not initialised: the commands say so
        log.debug("RLS check skipped: %s", exc)
        return
    finally:
        engine.dispose()
    if bypassed:
        log.warning(WARNING, user)

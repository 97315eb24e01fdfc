"""``countydesk`` as an operator runs it before the database exists, or without a secret.

Each command runs as a subprocess, the way a shell runs it: what matters is what lands on the
terminal (one line saying what to do, not pages of traceback) and the exit status.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from app.cli import NOT_SET_UP
from app.config import SECRET_KEY_HINT, demo_secret_key
from support import ROOT

GOOD_KEY = "k" * 64


def _run(*args: str, database_url: str, secret: str | None = GOOD_KEY) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SECRET_KEY", "COUNTYDESK_DEMO")}
    env["DATABASE_URL"] = database_url
    if secret is not None:
        env["SECRET_KEY"] = secret
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def _lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return (result.stdout + result.stderr).strip().splitlines()


@pytest.fixture
def missing_db(tmp_path: Path) -> tuple[str, Path]:
    path = tmp_path / "nowhere.db"
    return f"sqlite:///{path}", path


def test_help_and_formulas_work_without_a_database(missing_db):
    url, path = missing_db
    helped = _run("--help", database_url=url, secret=None)
    assert helped.returncode == 0, helped.stderr
    assert "serve" in helped.stdout and "demo" in helped.stdout and "Traceback" not in helped.stderr
    serve_help = _run("serve", "--help", database_url=url, secret=None)
    assert serve_help.returncode == 0 and "--bind" in serve_help.stdout and "--workers" in serve_help.stdout
    evaluated = _run("formula", "eval", "MAX(1, CEILING(计生常住人口 / 1500))", "--var", "计生常住人口=3200",
                     database_url=url, secret=None)
    assert evaluated.returncode == 0, evaluated.stderr
    assert _lines(evaluated)[0] == "结果：3"
    checked = _run("formula", "check", "户籍人口 * 2", database_url=url, secret=None)
    assert checked.returncode == 0 and "公式正确" in checked.stdout
    assert not path.exists()  # nothing connected to it, so no empty file was left behind


@pytest.mark.parametrize("command", [["serve"], ["worker"], ["tenant", "load", "tenants/shishi"],
                                     ["formula", "check", "户籍人口", "--tenant", "shishi"]])
def test_a_command_needing_the_database_says_to_run_setup(missing_db, command):
    url, path = missing_db
    result = _run(*command, database_url=url)
    assert result.returncode == 1
    assert _lines(result) == [NOT_SET_UP]
    assert not path.exists()


def test_an_empty_database_is_not_set_up(tmp_path):
    path = tmp_path / "empty.db"
    path.touch()
    result = _run("worker", database_url=f"sqlite:///{path}")
    assert result.returncode == 1 and _lines(result) == [NOT_SET_UP]


def test_an_unreachable_server_is_named_without_its_password(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = _run("serve", database_url=f"postgresql://ops:hunter2-secret@127.0.0.1:{port}/county")
    assert result.returncode == 1
    [line] = _lines(result)
    assert f"127.0.0.1:{port}/county" in line and "请检查" in line and "hunter2-secret" not in line


@pytest.mark.parametrize("secret", [None, "", "short-key-of-31-bytes-xxxxxxxxx"])
def test_serving_without_a_real_secret_is_refused_with_how_to_set_it(missing_db, secret):
    url, _path = missing_db
    result = _run("serve", database_url=url, secret=secret)
    assert result.returncode == 1
    assert _lines(result) == [SECRET_KEY_HINT]
    assert "export SECRET_KEY=" in SECRET_KEY_HINT


def test_the_demo_secret_is_made_once_private_and_reused(tmp_path):
    path = tmp_path / "instance" / "secret_key"
    first = demo_secret_key(path)
    assert len(first.encode()) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert demo_secret_key(path) == first


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_runs_gunicorn_on_the_bind_from_the_environment(app):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "COUNTYDESK_DEMO")}
    env.update(DATABASE_URL=os.environ.get("DATABASE_URL") or str(app.config["SQLALCHEMY_DATABASE_URI"]),
               COUNTYDESK_BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="1", SECRET_KEY=GOOD_KEY)
    env.pop("FLASK_APP", None)
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        body = _get_when_up(f"http://127.0.0.1:{port}/login/", proc)
        assert "password" in body
    finally:
        proc.send_signal(2)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert '"GET /login/ HTTP/1.1" 200' in out  # the access log goes to stdout
    assert "1 个进程" in out  # without Redis: one process, so an inline job and its page live together


def _get_when_up(url: str, proc: subprocess.Popen[str], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)

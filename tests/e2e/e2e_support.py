"""The browser smoke test's harness: a fresh copy of the checkout, served by ``bin/demo``, and Chromium.

Why a copy: the test is what a newcomer does with a fresh clone (``bin/demo`` builds its own
``.venv`` and ``instance/``), so it runs on the files git would give them, uncommitted work included,
never on this checkout's virtualenv, database or secret. The demo never shares the suite's database:
``DATABASE_URL`` and ``REDIS_URL`` are removed from its environment (SQLite in the copy, inline jobs).
Later journeys reuse ``demo_server`` and ``browser``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from support import ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = ROOT / "instance" / "e2e"
START_TIMEOUT = 300  # a first bin/demo creates .venv (pip's cache makes that about a minute) and loads the demo
DEMO_ENV_DROPPED = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "COUNTYDESK_DEMO", "COUNTYDESK_TEST_WORKER",
                    "VIRTUAL_ENV", "FLASK_APP", "COUNTYDESK_BIND", "WEB_CONCURRENCY")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without Chromium the browser tests are skipped on a workstation, but fail under CI."""
    if CHROMIUM.exists() or os.environ.get("CI") == "true":
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} 不存在：浏览器冒烟测试跳过（CI 下必须安装）")
    for item in items:
        if "e2e" in item.keywords:
            item.add_marker(skip)


def fresh_clone(target: Path) -> Path:
    """The tracked and untracked-but-not-ignored files, as a clone of this working tree would have them."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout
    for raw in filter(None, listed.split(b"\0")):
        name = os.fsdecode(raw)
        source = ROOT / name
        if not source.is_file():  # deleted in the working tree, not yet committed
            continue
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / name)
    return target


def demo_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in DEMO_ENV_DROPPED}
    ours = str(ROOT / ".venv" / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != ours)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class DemoServer:
    clone: Path
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = 30) -> int:
        """Ctrl-C as a terminal sends it: SIGINT to the whole process group."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def _wait_for_login_page(server: DemoServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if server.proc.poll() is not None:
            pytest.fail(f"bin/demo exited with {server.proc.returncode}:\n{server.output()[-4000:]}")
        try:
            with urllib.request.urlopen(server.url + "login/", timeout=5) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            pytest.fail(f"no login page after {START_TIMEOUT} s:\n{server.output()[-4000:]}")
        time.sleep(1)


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """``bin/demo --port <free port>`` in a fresh copy, exactly as the README says, until the login page is up."""
    clone = fresh_clone(tmp_path_factory.mktemp("clone"))
    port = free_port()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    log = SCREENSHOTS / "demo.log"  # kept beside the screenshots for a failed run
    with log.open("wb") as out:
        proc = subprocess.Popen(["bin/demo", "--port", str(port)], cwd=clone, env=demo_env(), stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    server = DemoServer(clone, f"http://127.0.0.1:{port}/", proc, log)
    try:
        _wait_for_login_page(server)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} 不存在：CI 必须安装 chromium（.ci/run 会用 apt-get 安装）")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Visit:
    page: Any
    errors: list[str]


@pytest.fixture
def visit(browser: Any) -> Iterator[Any]:
    """A new browser context per login; every console error and uncaught page error is collected."""
    contexts = []

    def _open() -> Visit:
        context = browser.new_context(locale="zh-CN")
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda msg: errors.append(f"console: {msg.text} ({msg.location.get('url')})")
                if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
        page.on("response", lambda resp: errors.append(f"HTTP {resp.status}: {resp.url}") if resp.status >= 400
                else None)
        return Visit(page, errors)

    yield _open
    for context in contexts:
        context.close()


def log_in(visit: Visit, base_url: str, username: str, password: str) -> None:
    page = visit.page
    page.goto(base_url + "login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("input[type=submit]")


def screenshot(visit: Visit, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    visit.page.screenshot(path=str(path), full_page=True)
    return path

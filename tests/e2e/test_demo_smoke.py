"""A newcomer's first minutes: ``bin/demo`` in a fresh clone, then the browser (README, "The two commands").

The tests run in this order on one demo server: the county admin and the provincial viewer log in
and see their own county or region; the county admin recomputes quotas and follows the job; a
second ``bin/demo --no-serve`` keeps the platform admin's first password; Ctrl-C stops the server.
"""

from __future__ import annotations

import re
import socket
import stat
import subprocess

import pytest

from e2e_support import demo_env, log_in, screenshot

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = re.compile(r"平台管理员 admin 的初始密码：(\S+)，请登录后修改")


def _landing_facts(page) -> dict[str, str]:
    return {key: page.inner_text(f"#cd-{key}") for key in ("roles", "tenant", "scope")}


def test_county_admin_and_provincial_viewer_land_on_their_own_view(demo_server, visit):
    admin = visit()
    log_in(admin, demo_server.url, "shishi_admin", "demo1234")
    facts = _landing_facts(admin.page)
    assert "县管理员" in facts["roles"] and "石狮市" in facts["tenant"] and facts["scope"] == "全县"
    assert "贵州省" not in admin.page.inner_text("body")
    screenshot(admin, "shishi_admin-home")
    assert admin.errors == []

    viewer = visit()
    log_in(viewer, demo_server.url, "fujian_viewer", "demo1234")
    facts = _landing_facts(viewer.page)
    assert "省级查看" in facts["roles"] and facts["scope"] == "只读"
    counties = viewer.page.inner_text("#cd-tenants")
    assert "福建省" in counties and "石狮市" in counties and "关岭" not in counties
    screenshot(viewer, "fujian_viewer-home")
    assert viewer.errors == []


def test_a_county_admin_recomputes_quotas_and_follows_the_job_to_its_end(demo_server, visit):
    """A background job and its progress page are served by the same demo: the job is found and done."""
    admin = visit()
    log_in(admin, demo_server.url, "shishi_admin", "demo1234")
    page = admin.page
    page.goto(demo_server.url + "staffingquotaview/list/")
    year = next(t.strip() for t in page.locator("td").all_inner_texts()  # the demo's current period
                if re.fullmatch(r"20[0-9]{2}", t.strip()))
    page.fill("#cd-recompute-period", year)
    with page.expect_navigation():
        page.click("form[action*=recompute] button[type=submit]")
    assert "/jobs/" in page.url
    page.wait_for_function("document.getElementById('cd-job') && "
                           "document.getElementById('cd-job').dataset.finished === 'true'", timeout=60_000)
    assert page.inner_text("#cd-job-status") == "已完成", page.inner_text("body")
    screenshot(admin, "shishi_admin-recompute-job")
    assert admin.errors == []


def test_a_second_demo_run_keeps_the_admin_password_printed_once(demo_server, visit):
    first = ADMIN_PASSWORD.findall(demo_server.output())
    assert len(first) == 1, demo_server.output()[-3000:]
    secret = demo_server.clone / "instance" / "secret_key"
    key = secret.read_text()
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600

    again = subprocess.run(["bin/demo", "--no-serve"], cwd=demo_server.clone, env=demo_env(), capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "平台管理员 admin 已存在，沿用原密码" in again.stdout and not ADMIN_PASSWORD.search(again.stdout)
    assert secret.read_text() == key

    platform = visit()
    log_in(platform, demo_server.url, "admin", first[0])
    assert "/login" not in platform.page.url
    assert platform.page.inner_text("h2") == "欢迎，平台管理员"
    assert platform.errors == []


def test_ctrl_c_stops_the_demo(demo_server):
    port = int(demo_server.url.rsplit(":", 1)[1].strip("/"))
    assert demo_server.stop(timeout=30) == 0, demo_server.output()[-3000:]
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass

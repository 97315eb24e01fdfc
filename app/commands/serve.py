"""``countydesk serve``: the app under gunicorn, the process an operator puts behind nginx.

Why the app is built before gunicorn starts (``preload_app``): a missing secret or database is
reported once, as one line, by this command; FAB syncs its permissions once, not in every worker at
the same time; and the workers fork from a master whose connection pool was emptied, so no
database connection is shared between processes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from flask import Flask
from gunicorn.app.base import BaseApplication

DEFAULT_BIND = "127.0.0.1:8080"
DEFAULT_WORKERS = 2


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


def process_layout(app: Flask, workers: int) -> dict[str, Any]:
    """Worker processes with Redis; without it, one process with ``workers`` × 2 threads.

    Why: without ``REDIS_URL`` background jobs run inline and are kept in that process's memory
    (and so are the login counts). With several processes, a job started in one is "not found" when
    its progress page is served by another, and each process counts logins on its own.
    """
    if app.config.get("REDIS_URL"):
        return {"workers": workers, "worker_class": "sync"}
    return {"workers": 1, "worker_class": "gthread", "threads": max(2, workers * 2)}


def run_gunicorn(app: Flask, bind: str, workers: int, on_exit: Callable[[], None] | None = None) -> None:
    """Serve until SIGINT/SIGTERM (gunicorn's own handling); ``on_exit`` runs as the master stops."""
    from app.extensions import db

    with app.app_context():
        db.engine.dispose()
    options: dict[str, Any] = {
        "bind": bind,
        **process_layout(app, workers),
        "preload_app": True,
        "accesslog": "-",
        "errorlog": "-",
        "proc_name": "countydesk",
        "graceful_timeout": 10,
        "control_socket_disable": True,  # one shared ~/.gunicorn socket would clash between instances
    }
    if on_exit is not None:
        options["on_exit"] = lambda _server: on_exit()
    _Gunicorn(app, options).run()


@click.command("serve")
@click.option("--bind", envvar="COUNTYDESK_BIND", default=DEFAULT_BIND, show_default=True,
              help="监听地址 主机:端口（环境变量 COUNTYDESK_BIND）")
@click.option("--workers", envvar="WEB_CONCURRENCY", default=DEFAULT_WORKERS, show_default=True,
              type=click.IntRange(1, 64), help="工作进程数（环境变量 WEB_CONCURRENCY）")
def serve_command(bind: str, workers: int) -> None:
    """启动网站服务（gunicorn），Ctrl-C 停止；生产环境放在 nginx 之后。"""
    from app.cli import build_app

    app = build_app()
    layout = process_layout(app, workers)
    shape = (f"{layout['workers']} 个工作进程" if layout["worker_class"] == "sync"
             else f"未设置 REDIS_URL：1 个进程、{layout['threads']} 个线程，后台任务在进程内执行")
    click.echo(f"CountyDesk 服务地址 http://{bind}/（{shape}，Ctrl-C 停止）")
    run_gunicorn(app, bind, workers)

"""``countydesk worker``: an RQ worker bound to the app (tenant travels in each job)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext


@click.command("worker")
@click.option("--burst", is_flag=True, help="处理完队列中的任务后退出")
@click.option("--with-scheduler/--no-scheduler", default=True, help="同时运行定时任务调度")
@click.option("--tick-seconds", type=click.IntRange(1, 3600), default=None, envvar="COUNTYDESK_TICK_SECONDS",
              help="流程定时检查的间隔秒数（默认 60）")
@with_appcontext
def worker_command(burst: bool, with_scheduler: bool, tick_seconds: int | None) -> None:
    """运行后台任务进程（需要 REDIS_URL）。"""
    from rq import SimpleWorker

    from app.jobs.queue import QUEUE_NAMES, get_queue

    if not current_app.config.get("REDIS_URL"):
        raise click.ClickException("未设置 REDIS_URL：没有 Redis 时任务在请求内直接执行，无需 worker。")
    queues = [get_queue(n) for n in QUEUE_NAMES]
    # SimpleWorker runs jobs in this process (no fork): the app context and the connection
    # pool stay valid, and a job is a batch (a tenant, a file), never a row.
    if with_scheduler and not burst:  # workflow timers: due times live in the DB, a repeating job fires them
        from app.workflows.timers import TICK_SECONDS, ensure_tick_scheduled

        ensure_tick_scheduled(tick_seconds or TICK_SECONDS)
    SimpleWorker(queues, connection=queues[0].connection).work(burst=burst, with_scheduler=with_scheduler)

"""The daemon: scheduler + sync + workers (+ dashboard) in one process, and its signals.

SIGTERM / SIGINT stop it gracefully (exit 0); SIGUSR1 runs a ``sys_crontab`` sync at once.
``worker.processes`` > 1 starts that many worker-only child processes beside it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
from typing import TYPE_CHECKING, Any

from .config import setup_logging

if TYPE_CHECKING:
    from .app import App

log = logging.getLogger("bingo.daemon")


def _children(app: App, count: int) -> list[subprocess.Popen[bytes]]:
    """Start ``count`` worker-only copies of this daemon."""
    cmd = [sys.executable, "-m", "bingo_core.cli.main"]
    if app.config_path:
        cmd += ["-c", app.config_path]
    for key, value in app.overrides.items():
        cmd += ["--set", f"{key}={value}"]
    cmd += ["--no-scheduler", "--no-dashboard", "--set", "worker.processes=1"]
    return [subprocess.Popen(cmd) for _ in range(count)]


async def _serve(app: App) -> None:
    settings = app.settings
    args = app.args
    broker = app.async_broker()
    await broker.ping()  # one clear line and exit 1 when Redis is not there
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    services: list[Any] = []
    if not getattr(args, "no_scheduler", False) and settings.scheduler.enabled:
        from .scheduler.service import SchedulerService

        service = SchedulerService(app)
        await service.start()
        services.append(service)
        loop.add_signal_handler(signal.SIGUSR1, service.trigger_sync)
    tasks = []
    run_worker = not getattr(args, "no_worker", False)
    if run_worker:
        from .worker import Worker

        worker = Worker(app)
        tasks.append(asyncio.create_task(worker.run(stop), name="bingo-worker"))
    app.manager.notify("bingo_startup", settings=settings)
    log.info(
        "bingo-scheduler started: pid=%d scheduler=%s worker=%s",
        os.getpid(),
        bool(services),
        run_worker,
    )
    if not getattr(args, "no_dashboard", False):  # the sampler; the dashboard when configured
        from .dashboard.service import DashboardService

        services.append(await DashboardService(app).start())
    try:
        if tasks:
            await asyncio.gather(*tasks)
        else:
            await stop.wait()
    finally:
        for service in services:
            await service.stop()
        app.manager.notify("bingo_shutdown", settings=settings)
        await app.aclose()
        log.info("bingo-scheduler stopped")


def run_daemon(app: App) -> int:
    """Run until SIGTERM/SIGINT; returns the exit code."""
    settings = app.settings
    setup_logging(settings.log)
    app.manager  # noqa: B018 - load the plugins now, so broken ones are logged at start
    children = []
    if settings.worker.processes > 1 and not getattr(app.args, "no_worker", False):
        children = _children(app, settings.worker.processes - 1)
    try:
        asyncio.run(_serve(app))
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            child.wait()
    return 0

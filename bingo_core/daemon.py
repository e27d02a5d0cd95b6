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

from .broker import AsyncBroker
from .config import setup_logging

if TYPE_CHECKING:
    from .cli.common import App

log = logging.getLogger("bingo.daemon")


def _children(app: App, count: int) -> list[subprocess.Popen[bytes]]:
    """Start ``count`` worker-only copies of this daemon."""
    cmd = [sys.executable, "-m", "bingo_core.cli.main"]
    if app.args.config:
        cmd += ["-c", app.args.config]
    for item in app.args.sets:
        cmd += ["--set", item]
    cmd += ["--no-scheduler", "--no-dashboard", "--set", "worker.processes=1"]
    return [subprocess.Popen(cmd) for _ in range(count)]


async def _serve(app: App) -> None:
    settings = app.settings
    args = app.args
    registry, manager = app.registry, app.manager
    broker = AsyncBroker(settings.redis)
    await broker.ping()  # one clear line and exit 1 when Redis is not there
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    services: list[Any] = []
    if not args.no_scheduler and settings.scheduler.enabled:
        try:
            from .scheduler.service import SchedulerService
        except ImportError as exc:  # pragma: no cover - the scheduler ships with the core
            log.error("scheduler unavailable: %s", exc)
        else:
            service = SchedulerService(settings, registry, manager, broker)
            await service.start()
            services.append(service)
            loop.add_signal_handler(signal.SIGUSR1, service.trigger_sync)
    tasks = []
    if not args.no_worker:
        from .worker import Worker

        worker = Worker(settings, registry, manager)
        tasks.append(asyncio.create_task(worker.run(stop), name="bingo-worker"))
    if not args.no_dashboard and settings.feature.queue_dash and settings.dashboard.enabled:
        try:
            from .dashboard.server import serve_dashboard
        except ImportError:
            log.warning(
                "feature.queueDash is on but the dashboard is not part of this "
                "build; serving nothing on %s",
                settings.server.addr,
            )
        else:
            tasks.append(asyncio.create_task(serve_dashboard(app, stop), name="bingo-dash"))
    manager.hook.bingo_startup(settings=settings)
    log.info(
        "bingo-scheduler started: pid=%d scheduler=%s worker=%s",
        os.getpid(),
        bool(services),
        not args.no_worker,
    )
    try:
        if tasks:
            await asyncio.gather(*tasks)
        else:
            await stop.wait()
    finally:
        for service in services:
            await service.stop()
        manager.hook.bingo_shutdown(settings=settings)
        await broker.close()
        log.info("bingo-scheduler stopped")


def run_daemon(app: App) -> int:
    """Run until SIGTERM/SIGINT; returns the exit code."""
    settings = app.settings
    setup_logging(settings.log)
    app.manager  # noqa: B018 - load the plugins now, so broken ones are logged at start
    children = []
    if settings.worker.processes > 1 and not app.args.no_worker:
        children = _children(app, settings.worker.processes - 1)
    try:
        asyncio.run(_serve(app))
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            child.wait()
    return 0

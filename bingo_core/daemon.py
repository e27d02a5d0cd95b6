"""The daemon: scheduler + sync + workers (+ dashboard) in one process, and its signals.

SIGTERM / SIGINT stop it gracefully (exit 0); SIGUSR1 runs a ``sys_crontab`` sync at once
(a daemon without the scheduler says so once and goes on). ``worker.processes`` > 1
starts that many worker-only child processes beside it, and starts a new one when one dies.

Nothing but a signal stops it: every background loop survives its own errors
(:mod:`bingo_core.loops`). It exits non-zero, with one line saying why, only when it
cannot start (Redis unreachable) or when a part of it stopped unexpectedly (a bug).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
from typing import TYPE_CHECKING, Any

from . import eventloop
from .config import setup_logging
from .config.logging import add_secrets, secret_values
from .dashboard.service import DashboardService, wanted
from .errors import Crashed
from .eventloop import run
from .loops import Backoff, one_line
from .process import NAME, set_title
from .worker import Worker

if TYPE_CHECKING:
    from .app import App
    from .config import Settings

log = logging.getLogger("bingo.daemon")

#: Seconds between two looks at the worker child processes.
CHILD_CHECK = 1.0


def _child_command(app: App) -> list[str]:
    cmd = [sys.executable, "-m", "bingo_core.cli.main"]
    if app.config_path:
        cmd += ["-c", app.config_path]
    for key, value in app.overrides.items():
        cmd += ["--set", f"{key}={value}"]
    return [*cmd, "--no-scheduler", "--no-dashboard", "--set", "worker.processes=1"]


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class Children:
    """The worker-only child processes; one that dies is replaced (with backoff)."""

    def __init__(self, app: App, count: int) -> None:
        self.cmd = _child_command(app)
        self.procs: list[subprocess.Popen[bytes]] = [
            subprocess.Popen(self.cmd) for _ in range(count)
        ]
        self._backoff = Backoff(first=1.0, cap=30.0)

    async def watch(self, stop: asyncio.Event) -> None:
        """Replace the children that exit while the daemon runs."""
        while not stop.is_set():
            delay = CHILD_CHECK
            for i, proc in enumerate(self.procs):
                code = proc.poll()
                if code is None or stop.is_set():
                    continue
                delay = self._backoff.next()
                how = f"was killed by {_signal_name(-code)}" if code < 0 else f"exited ({code})"
                log.error("worker process %d %s; starting a new one in %gs", proc.pid, how, delay)
                await asyncio.sleep(delay)
                if not stop.is_set():
                    self.procs[i] = subprocess.Popen(self.cmd)
            if delay == CHILD_CHECK:
                self._backoff.reset()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=CHILD_CHECK)

    def stop(self) -> None:
        """SIGTERM every child (they shut down gracefully) and wait for them."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            proc.wait()


def _loop_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """asyncio's last resort, as one line (the traceback at debug level).

    redis-py reports a pipeline or client whose connection broke as "Unclosed ...": the
    connection is already closed by then and the loop that used it has logged the
    failure, so that is a debug line.
    """
    message = str(context.get("message") or "asyncio error")
    exc = context.get("exception")
    if message.startswith("Unclosed"):
        log.debug("%s", message)
        return
    line = f"{message}: {one_line(exc)}" if isinstance(exc, BaseException) else message
    log.error("%s", line)
    if isinstance(exc, BaseException):
        log.debug("asyncio: %s", message, exc_info=exc)


async def _serve(app: App, children: Children | None) -> None:
    settings = app.settings
    args = app.args
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_loop_exception)
    broker = app.async_broker()
    await broker.ping()  # one clear line and exit 1 when Redis is not there
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    services: list[Any] = []
    tasks: dict[asyncio.Task[Any], str] = {}
    if not getattr(args, "no_scheduler", False) and settings.scheduler.enabled:
        # lazy: the daemon loads SQLAlchemy and croniter only when it runs the scheduler
        from .scheduler.service import SchedulerService

        service = SchedulerService(app)
        await service.start()
        services.append(service)
        loop.add_signal_handler(signal.SIGUSR1, service.trigger_sync)
        watch = asyncio.create_task(service.watch(stop), name="bingo-scheduler-watch")
        tasks[watch] = "the scheduler"
    else:
        loop.add_signal_handler(signal.SIGUSR1, _no_scheduler(args))
    run_worker = not getattr(args, "no_worker", False)
    if run_worker:
        worker = Worker(app)
        tasks[asyncio.create_task(worker.run(stop), name="bingo-worker")] = "the worker"
    if children is not None:
        watcher = asyncio.create_task(children.watch(stop), name="bingo-children")
        tasks[watcher] = "the worker process watcher"
    app.manager.notify("bingo_startup", settings=settings)
    log.info(
        "bingo-scheduler started: pid=%d scheduler=%s worker=%s event loop: %s",
        os.getpid(),
        bool(services),
        run_worker,
        eventloop.running,
    )
    if not getattr(args, "no_dashboard", False):  # the sampler; the dashboard when configured
        services.append(await DashboardService(app).start())
    stopper = asyncio.create_task(stop.wait(), name="bingo-stop")
    try:
        done, _ = await asyncio.wait({stopper, *tasks}, return_when=asyncio.FIRST_COMPLETED)
        crashed = [] if stopper in done else list(done)
        stop.set()  # a part that stopped on its own takes the daemon down with it
        await asyncio.gather(*tasks, return_exceptions=True)
        for task in crashed:
            exc = None if task.cancelled() else task.exception()
            if isinstance(exc, Crashed):
                raise exc
            if exc is not None:
                raise Crashed(f"{tasks[task]} stopped: {one_line(exc)}") from exc
            raise Crashed(f"{tasks[task]} stopped with no error")
    finally:
        stopper.cancel()
        for service in services:
            await service.stop()
        app.manager.notify("bingo_shutdown", settings=settings)
        await app.aclose()
        log.info("bingo-scheduler stopped")


def _no_scheduler(args: Any) -> Any:
    """The SIGUSR1 handler of a daemon without the scheduler (systemd's ``ExecReload``
    must not kill it): one line the first time, debug lines after."""
    said: list[bool] = []

    def handler() -> None:
        why = (
            "started with --no-scheduler"
            if getattr(args, "no_scheduler", False)
            else "scheduler.enabled is false"
        )
        (log.debug if said else log.info)(
            "SIGUSR1: no scheduler here (%s), so there is no sys_crontab sync to run", why
        )
        said.append(True)

    return handler


def _title(app: App) -> str:
    """The daemon's process title: ``bingo-scheduler daemon (scheduler, worker) -c FILE``."""
    args, settings = app.args, app.settings
    roles = [
        role
        for role, on in (
            ("scheduler", settings.scheduler.enabled and not getattr(args, "no_scheduler", False)),
            ("worker", not getattr(args, "no_worker", False)),
            ("dashboard", wanted(app) and not getattr(args, "no_dashboard", False)),
        )
        if on
    ]
    config = f" -c {app.config_path}" if app.config_path else ""
    return f"{NAME} daemon ({', '.join(roles) or 'idle'}){config}"


def run_daemon(app: App) -> int:
    """Run until SIGTERM/SIGINT; returns the exit code (0 after a signal).

    Raises :class:`~bingo_core.errors.ServiceUnavailable` when Redis is not there at
    start, :class:`~bingo_core.errors.Crashed` when a part of the daemon stopped on its
    own; the command line turns either into one line and exit code 1.
    """
    settings = app.settings
    setup_logging(settings.log, secrets=secret_values(settings))
    # lazy: the embedded Redis's helpers; its server package loads only when it starts
    from .broker.embedded import SOCKET, EmbeddedRedis, alive, wanted

    # One that an earlier daemon started is used as it is (the daemons' worker children).
    embedded = EmbeddedRedis() if wanted(settings) and not alive(SOCKET) else None
    if embedded is not None:
        # Before anything connects: they find its socket.
        embedded.start(forced=settings.redis.embedded == "always")
    try:
        return _run(app, settings)
    finally:
        if embedded is not None:
            embedded.stop()


def _run(app: App, settings: Settings) -> int:
    set_title(_title(app))
    app.manager  # noqa: B018 - load the plugins now, so broken ones are logged at start
    add_secrets(secret_values(settings))  # the plugins' secrets, bound with them
    children = None
    if settings.worker.processes > 1 and not getattr(app.args, "no_worker", False):
        children = Children(app, settings.worker.processes - 1)
    try:
        run(_serve(app, children), settings.worker.event_loop)
    except Crashed as exc:
        log.critical("bingo-scheduler stops: %s", exc)
        log.debug("what stopped it", exc_info=exc)
        raise Crashed(str(exc), logged=settings.log.console) from None
    finally:
        if children is not None:
            children.stop()
    return 0

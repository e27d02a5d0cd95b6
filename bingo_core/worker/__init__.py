"""The worker: fetch loop, handler runner, heartbeat and leases, recoverer, shutdown."""

from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING, Any

from ..context import TaskContext

if TYPE_CHECKING:
    from ..app import App
    from .worker import Worker


def run_worker(app: App) -> None:
    """Run one worker in this process until SIGTERM or SIGINT (then shut down gracefully)."""
    # lazy: the loop choice (and uvloop) only in a process that runs a worker
    from ..eventloop import run

    # lazy: keeps redis out of this package (see __getattr__)
    from .worker import Worker

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await Worker(app).run(stop)

    run(main(), app.settings.worker.event_loop)


def __getattr__(name: str) -> Any:
    if name == "Worker":
        # lazy: keeps redis out of the forkserver and the children that run process-isolated
        # tasks: they import .isolation, hence this package
        from .worker import Worker

        return Worker
    raise AttributeError(name)


__all__ = ["TaskContext", "Worker", "run_worker"]

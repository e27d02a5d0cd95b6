"""Heartbeat: extends the leases of the worker's active tasks and publishes its status."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from ..broker import CONNECTION_ERRORS

if TYPE_CHECKING:
    from .worker import Worker

log = logging.getLogger("bingo.worker")


class Heartbeat:
    """Every lease/3 seconds: push lease expiries forward, refresh ``P:server:<id>``."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.interval = max(0.05, worker.lease / 3)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="bingo-heartbeat")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def beat(self) -> None:
        w = self.worker
        held: dict[str, list[str]] = {}
        for task_id, r in list(w.active.items()):
            held.setdefault(r.queue, []).append(task_id)
        await w.broker.extend_leases(held, time.time() + w.lease)
        await w.broker.heartbeat(w.id, w.status_json(), ttl=max(w.lease, 3 * self.interval))

    async def _loop(self) -> None:
        while True:
            try:
                await self.beat()
            except CONNECTION_ERRORS as exc:
                log.debug("heartbeat failed: %s", exc)
            await asyncio.sleep(self.interval)

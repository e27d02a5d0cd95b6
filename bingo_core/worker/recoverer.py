"""Recoverer: returns tasks whose lease expired (their worker died) to their queue, and
deletes completed tasks whose retention ran out."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from ..broker import CONNECTION_ERRORS

if TYPE_CHECKING:
    from .worker import Worker

log = logging.getLogger("bingo.worker")
LOST = "lease expired: the worker running it stopped heartbeating (crashed or killed)"


class Recoverer:
    """Every ``worker.recoverInterval`` seconds, for each of the worker's queues."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.interval = worker.settings.worker.recover_interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="bingo-recoverer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def recover_once(self) -> int:
        total = 0
        for queue in self.worker.queues:
            requeued, archived, _ = await self.worker.broker.recover(queue, LOST)
            if requeued or archived:
                log.warning(
                    "queue %s: %d task(s) with an expired lease requeued, %d archived "
                    "(retries used up)",
                    queue,
                    requeued,
                    archived,
                )
            total += requeued + archived
        return total

    async def _loop(self) -> None:
        while True:
            try:
                await self.recover_once()
            except CONNECTION_ERRORS as exc:
                log.debug("recoverer: %s", exc)
            await asyncio.sleep(self.interval)

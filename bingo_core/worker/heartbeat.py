"""Heartbeat: extends the leases of the worker's active tasks and publishes its status."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from ..loops import SurvivingLoop

if TYPE_CHECKING:
    from .worker import Worker

log = logging.getLogger("bingo.worker")


class Heartbeat:
    """Every lease/3 seconds: refresh ``P:server:<id>``, push lease expiries forward, and
    stop the tasks whose cancel was asked.

    A failing beat is logged once and retried with backoff, never more than one interval
    apart (a lease must not run out because the heartbeat waited).
    """

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.interval = max(0.05, worker.lease / 3)
        self._loop = SurvivingLoop(
            "heartbeat",
            self._step,
            log,
            worker.outage,
            max_delay=self.interval,
            task_name="bingo-heartbeat",
        )

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def beat(self) -> None:
        w = self.worker
        held: dict[str, list[str]] = {}
        for task_id, r in list(w.active.items()):
            held.setdefault(r.queue, []).append(task_id)
        # The server record first: a queue whose lease key is broken must not hide it.
        await w.broker.heartbeat(w.id, w.status_json(), ttl=max(w.lease, 3 * self.interval))
        await w.broker.extend_leases(held, time.time() + w.lease)
        for ids in (await w.broker.cancel_requests(held)).values():
            for task_id in ids:
                w.cancel(task_id)

    async def _step(self) -> float:
        await self.beat()
        return self.interval

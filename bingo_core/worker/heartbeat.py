"""Heartbeat: extends the leases of the worker's active tasks and publishes its status."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from ..asynq.servers import ServerRecord
from ..broker import AsyncBroker
from ..broker.asynq_scripts import LEASE as ASYNQ_LEASE
from ..loops import Outage, SurvivingLoop

log = logging.getLogger("bingo.worker")
#: The longest time between beats of a worker serving Asynq queues (Go's heartbeat).
ASYNQ_BEAT = 5.0


class Held(Protocol):
    """A task the worker holds (its lease)."""

    @property
    def queue(self) -> str: ...


@dataclass(frozen=True, slots=True)
class HeartbeatParams:
    """What the heartbeat reads of its worker."""

    broker: AsyncBroker
    #: The worker's server id (``P:server:<id>``).
    server_id: str
    #: Seconds a lease lasts; the heartbeat beats every third of it.
    lease: float
    #: Redis not answering: one line for the whole daemon.
    outage: Outage
    #: The tasks the worker holds, by id (read at each beat).
    active: Mapping[str, Held]
    #: The queues in Asynq's layout (``asynq.queues``): their leases are Asynq's.
    asynq_queues: frozenset[str] = frozenset()


class Heartbeat:
    """Every lease/3 seconds: refresh ``P:server:<id>`` with ``status_json()``, push lease
    expiries forward, and ``cancel(task_id)`` the tasks whose cancel was asked.

    A failing beat is logged once and retried with backoff, never more than one interval
    apart (a lease must not run out because the heartbeat waited).
    """

    def __init__(
        self,
        params: HeartbeatParams,
        status_json: Callable[[], str],
        cancel: Callable[[str], object],
        asynq_record: Callable[[], ServerRecord] | None = None,
    ) -> None:
        self.params = params
        self.status_json = status_json
        self.cancel = cancel
        #: The worker as an Asynq server (``asynq.queues`` served), published each beat.
        self.asynq_record = asynq_record
        self.interval = max(0.05, params.lease / 3)
        if params.asynq_queues:  # Asynq's leases are 30 s and Go beats every 5 s: as often
            self.interval = min(self.interval, ASYNQ_BEAT)
        self._loop = SurvivingLoop(
            "heartbeat",
            self._step,
            log,
            params.outage,
            max_delay=self.interval,
            task_name="bingo-heartbeat",
        )

    def start(self) -> None:
        """Start beating on the running loop."""
        self._loop.start()

    async def stop(self) -> None:
        """Stop beating and wait for the loop to end."""
        await self._loop.stop()

    async def beat(self) -> None:
        """One beat: the server record, the leases, the cancels asked."""
        p = self.params
        held: dict[str, list[str]] = {}
        for task_id, task in list(p.active.items()):
            held.setdefault(task.queue, []).append(task_id)
        # The server record first: a queue whose lease key is broken must not hide it.
        await p.broker.heartbeat(
            p.server_id, self.status_json(), ttl=max(p.lease, 3 * self.interval)
        )
        theirs = {q: held.pop(q) for q in list(held) if q in p.asynq_queues}
        await p.broker.extend_leases(held, time.time() + p.lease)
        if theirs:
            await p.broker.asynq_ops.extend_leases(theirs, time.time() + ASYNQ_LEASE)
        if self.asynq_record is not None:  # Go's records live 10 s, beaten every 5 s
            ttl = int(max(10.0, 2 * self.interval + 1))
            await p.broker.asynq_ops.announce(self.asynq_record(), ttl)
        for ids in (await p.broker.cancel_requests(held)).values():
            for task_id in ids:
                self.cancel(task_id)

    async def _step(self) -> float:
        await self.beat()
        return self.interval

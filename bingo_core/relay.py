"""The worker daemon's relay loop: delivers what its queues' scripts tell other queues
(see :mod:`bingo_core.broker.relays`), woken by the outboxes' tokens, and sweeps the
staged workflow parts whose record never appeared (:mod:`bingo_core.broker.staging`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .broker import CONNECTION_ERRORS, connection
from .broker.cluster import NotifyWaiter
from .broker.relays import deliver_async
from .broker.staging import sweep_async
from .loops import Faults, Outage, SurvivingLoop, one_line

if TYPE_CHECKING:
    from .broker import AsyncBroker

log = logging.getLogger("bingo.worker")
#: The longest wait for a token before the loop looks at the outboxes again (s): a token
#: lost with a failed-over primary, or taken by a process killed before it delivered,
#: delays a delivery, never loses it.
GUARD = 5.0


class RelayLoop:
    """The worker daemon's delivery: blocks on the relay tokens of its queues (one
    ``BLPOP``; on a Cluster one per queue), delivers their outboxes, and looks again at
    least every :data:`GUARD` seconds."""

    def __init__(self, broker: AsyncBroker, queues: Sequence[str], outage: Outage) -> None:
        self.broker = broker
        self.queues = list(queues)
        self._blocking: Any = None
        self._waiter: NotifyWaiter | None = None
        self._faults = Faults(
            log,
            lambda q, exc: (
                f"queue {q}: delivering workflow news to other queues failed: "
                f"{one_line(exc)}; retrying with backoff"
            ),
            lambda q: f"queue {q}: delivering workflow news again",
        )
        self._swept = 0.0
        self._loop = SurvivingLoop("relay", self._step, log, outage, task_name="bingo-relay")

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
        if self._waiter is not None:
            await self._waiter.cancel()
        if self._blocking is not None:
            await self._blocking.aclose()
            self._blocking = None

    async def _wait(self, timeout: float) -> None:
        keys = [self.broker.q(q).relay_wake for q in self.queues]
        if self._blocking is None:
            cfg = self.broker.cfg
            self._blocking = connection.make_async(cfg, blocking=True)
            if cfg.cluster is not None:
                self._waiter = NotifyWaiter(self._blocking)
        if self._waiter is not None and len(keys) > 1:
            await self._waiter.wait(keys, timeout)
        else:
            await self._blocking.blpop(keys, timeout=timeout)

    async def _step(self) -> float:
        # staged parts of workflows whose record never appeared: at most every GUARD s
        sweeping = time.monotonic() - self._swept >= GUARD
        if sweeping:
            self._swept = time.monotonic()
        for queue in self.queues:
            if not self._faults.ready(queue):
                continue
            try:
                await deliver_async(self.broker, [queue])
                if sweeping:
                    await sweep_async(self.broker, [queue])
            except CONNECTION_ERRORS:
                raise
            except Exception as exc:
                self._faults.failed(queue, exc)
                continue
            self._faults.ok(queue)
        await self._wait(GUARD)
        return 0.0

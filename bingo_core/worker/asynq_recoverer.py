"""Asynq's recoverer and janitor for the queues of ``asynq.queues``: a task whose lease
expired more than 30 s ago (its server, Go or Bingo, crashed) is retried or archived as
Asynq does it, with the error ``asynq: task lease expired``; completed tasks past their
retention are deleted."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..asynq.wire import AsynqMessage
from ..broker import CONNECTION_ERRORS
from ..broker.asynq_ops import AsynqOps
from ..errors import MalformedTask
from ..loops import Faults, Idle, Outage, SurvivingLoop, one_line

log = logging.getLogger("bingo.worker")
#: The error Go writes on a task whose lease expired.
LEASE_EXPIRED = "asynq: task lease expired"


@dataclass(frozen=True, slots=True)
class AsynqRecovererParams:
    """What the recoverer uses of its worker."""

    ops: AsynqOps
    #: The queues of ``asynq.queues``.
    queues: Iterable[str]
    #: Seconds between passes (``worker.recoverInterval``).
    interval: float
    outage: Outage
    #: Seconds before the next attempt after ``retried`` failures.
    backoff: Callable[[int], float]


class AsynqRecoverer:
    """Every ``interval`` seconds, for each Asynq queue; a queue that fails (a key of the
    wrong type) is logged once and retried with backoff, the others go on."""

    def __init__(self, params: AsynqRecovererParams) -> None:
        self.params = params
        self._faults = Faults(
            log,
            lambda q, exc: f"queue {q}: Asynq recovery failed: {one_line(exc)}; retrying",
            lambda q: f"queue {q}: Asynq recovery works again",
        )
        self._loop = SurvivingLoop(
            "asynq recoverer", self._step, log, params.outage, task_name="bingo-asynq-recoverer"
        )

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def recover_once(self) -> int:
        """One pass; returns how many tasks it retried or archived."""
        total = 0
        for queue in self.params.queues:
            if not self._faults.ready(queue):
                continue
            try:
                total += await self._recover(queue)
            except CONNECTION_ERRORS:
                raise
            except Exception as exc:
                self._faults.failed(queue, exc)
                continue
            self._faults.ok(queue)
        return total

    async def _recover(self, queue: str) -> int:
        ops = self.params.ops
        _, expired = await ops.expired(queue)
        n = 0
        for task in expired:
            now = int(time.time())
            try:
                msg = AsynqMessage.decode(task.raw)
            except MalformedTask as exc:
                log.error(
                    "queue %s: task %s with an expired lease archived: %s", queue, task.id, exc
                )
                n += await ops.fail(queue, task.id, b"", retry_at=None)
                continue
            if msg.retried >= msg.retry:
                new = msg.with_(error_msg=LEASE_EXPIRED, last_failed_at=now)
                done = await ops.fail(queue, task.id, new.encode(), retry_at=None)
            else:
                new = msg.with_(
                    retried=msg.retried + 1, error_msg=LEASE_EXPIRED, last_failed_at=now
                )
                at = now + self.params.backoff(msg.retried)
                done = await ops.fail(queue, task.id, new.encode(), retry_at=at)
            if done:
                n += 1
                log.warning(
                    "queue %s: task %s (%s) had an expired lease: %s",
                    queue,
                    task.id,
                    msg.type,
                    "archived (retries used up)" if msg.retried >= msg.retry else "retried",
                )
        return n

    async def _step(self) -> float:
        await self.recover_once()
        return float(self.params.interval) if self.params.queues else Idle(self.params.interval)

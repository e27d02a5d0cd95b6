"""Recoverer: returns tasks whose lease expired (their worker died) to their queue, and
deletes completed tasks whose retention ran out."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from ..broker import CONNECTION_ERRORS, AsyncBroker
from ..loops import Faults, Idle, Outage, SurvivingLoop, one_line

log = logging.getLogger("bingo.worker")
LOST = "lease expired: the worker running it stopped heartbeating (crashed or killed)"


#: Completed tasks ``recover.lua`` deletes at most in one call, and the most calls one
#: pass makes for a queue while they come back full.
EXPIRE_BATCH = 1000
MAX_EXPIRE_CALLS = 100


@dataclass(frozen=True, slots=True)
class RecovererParams:
    """What the recoverer uses of its worker."""

    broker: AsyncBroker
    #: The queues the worker serves.
    queues: Iterable[str]
    #: Seconds between passes (``worker.recoverInterval``).
    interval: float
    #: Redis not answering: one line for the whole daemon.
    outage: Outage


class Recoverer:
    """Every ``worker.recoverInterval`` seconds, for each of the worker's queues.

    A queue whose recovery fails (a key of the wrong type) is logged once, naming the
    key, and retried with backoff; the other queues are recovered meanwhile.
    """

    def __init__(self, params: RecovererParams) -> None:
        self.params = params
        self.broker = params.broker
        self.interval = params.interval
        self._faults = Faults(
            log,
            lambda q, exc: (
                f"queue {q}: recovering expired leases failed: {one_line(exc)}; "
                "retrying with backoff (the other queues go on)"
            ),
            lambda q: f"queue {q}: recovering expired leases again",
        )
        self._asked = False
        self._loop = SurvivingLoop(
            "recoverer", self._step, log, params.outage, task_name="bingo-recoverer"
        )

    def start(self) -> None:
        """Start the passes on the running loop."""
        self._loop.start()

    async def stop(self) -> None:
        """Stop the passes and wait for the loop to end."""
        await self._loop.stop()

    async def recover_once(self) -> int:
        """One pass over the queues; returns how many tasks it requeued or archived.
        Redis not answering is raised (the loop backs off); any other failure is one
        queue's."""
        total = 0
        self._asked = False
        for queue in self.params.queues:
            if not self._faults.ready(queue):
                continue
            self._asked = True
            try:
                res = last = await self.broker.recover(queue, LOST)
                # A call deletes at most EXPIRE_BATCH completed tasks: go on while it was
                # full, so expiry keeps up with any rate of retained completions.
                for _ in range(MAX_EXPIRE_CALLS):
                    if last.expired < EXPIRE_BATCH:
                        break
                    last = await self.broker.recover(queue, LOST)
                    res += last
            except CONNECTION_ERRORS:
                raise
            except Exception as exc:
                self._faults.failed(queue, exc)
                continue
            self._faults.ok(queue)
            requeued, archived = res.requeued, res.archived
            malformed, missing = res.malformed, res.missing
            if requeued or archived:
                log.warning(
                    "queue %s: %d task(s) with an expired lease requeued, %d archived "
                    "(retries used up)",
                    queue,
                    requeued,
                    archived,
                )
            if malformed:
                q = self.broker.q(queue)
                log.error(
                    "queue %s: %d task(s) with an expired lease had a task key that is not "
                    "a task hash; archived, each key's value kept under %smalformed:<id> "
                    "(see `tasks list --queue %s --state archived`)",
                    queue,
                    malformed,
                    q.base + ":",
                    queue,
                )
            if missing:
                log.warning(
                    "queue %s: %d task(s) with an expired lease had no task record; dropped",
                    queue,
                    missing,
                )
            total += requeued + archived + malformed
        return total

    async def _step(self) -> float:
        await self.recover_once()
        return float(self.interval) if self._asked else Idle(self.interval)

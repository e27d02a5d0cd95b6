"""Records of queues: counts per state and the tasks held back by limits (what ``stats``
reads); the dashboard's figures are in :mod:`.figures`."""

from __future__ import annotations

from dataclasses import dataclass

from .base import STATES, Record


@dataclass(frozen=True, slots=True)
class QueueStats(Record):
    """One queue: counts per state, totals, today's counters, latency of the oldest
    pending task (s), paused, keys of the wrong type, and how many live workers serve it."""

    queue: str
    pending: int
    active: int
    scheduled: int
    retry: int
    archived: int
    completed: int
    size: int
    processed: int
    failed: int
    processed_today: int
    failed_today: int
    paused: bool
    latency: float
    bad_keys: list[str]
    consumers: int = 0
    #: Tasks held back by a ``concurrency_limit`` or ``rate_limit`` (waiting, not
    #: pending in the list: see :class:`Throttled`).
    throttled: int = 0
    #: ``bingo``, or ``asynq`` for a queue of ``asynq.queues`` (Asynq's Redis layout).
    layout: str = "bingo"
    #: Tasks waiting for their dependencies (``depends_on``).
    waiting: int = 0

    def count(self, state: str) -> int:
        """The number of tasks in ``state``."""
        return int(getattr(self, state))

    @property
    def held(self) -> int:
        """Tasks in any state (completed ones included)."""
        return sum(self.count(s) for s in STATES)


@dataclass(frozen=True, slots=True)
class Throttled(Record):
    """Tasks of one queue held back by their type's limits: per task type and, for a type
    with a ``limit_key``, per value of that field (``key``; None otherwise)."""

    queue: str
    type: str
    key: str | None
    #: How many are held back.
    held: int
    #: How long the first of them has waited since it was enqueued (seconds).
    waited: float

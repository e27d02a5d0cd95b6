"""Records of the figures the dashboard shows: the overview of every queue, task types,
days, size samples, memory and Redis itself. Apart from :mod:`.queues`, so ``stats`` does
not make their classes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .base import Record
from .queues import QueueStats


@dataclass(frozen=True, slots=True)
class QueueOverview(QueueStats):
    """One queue as the overview shows it: its stats, today's error rate and its
    estimated memory (bytes)."""

    error_rate_today: float = 0.0
    memory: int = 0

    @classmethod
    def of(cls, stats: QueueStats, memory: int) -> QueueOverview:
        """``stats`` with today's error rate and ``memory``."""
        fields = {f.name: getattr(stats, f.name) for f in dataclasses.fields(stats)}
        rate = _rate(stats.failed_today, stats.processed_today)
        return cls(**fields, error_rate_today=rate, memory=memory)


@dataclass(frozen=True, slots=True)
class Totals(Record):
    """The overview's sums over every queue (``latency``: the largest; ``paused``: how
    many queues are)."""

    queues: int
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
    memory: int
    error_rate_today: float
    latency: float
    paused: int
    #: Tasks waiting for their dependencies.
    waiting: int = 0

    @classmethod
    def of(cls, rows: list[QueueOverview]) -> Totals:
        """The sums over ``rows``."""

        def total(name: str) -> int:
            return sum(int(getattr(r, name)) for r in rows)

        done, failed = total("processed_today"), total("failed_today")
        return cls(
            queues=len(rows),
            pending=total("pending"),
            active=total("active"),
            scheduled=total("scheduled"),
            retry=total("retry"),
            archived=total("archived"),
            completed=total("completed"),
            waiting=total("waiting"),
            size=total("size"),
            processed=total("processed"),
            failed=total("failed"),
            processed_today=done,
            failed_today=failed,
            memory=total("memory"),
            error_rate_today=_rate(failed, done),
            latency=max((r.latency for r in rows), default=0.0),
            paused=sum(1 for r in rows if r.paused),
        )


def _rate(failed: int, done: int) -> float:
    return failed / done if done else 0.0


@dataclass(frozen=True, slots=True)
class Overview(Record):
    """Every queue's figures and the totals, read at ``at`` (epoch s)."""

    queues: list[QueueOverview]
    totals: Totals
    at: float


@dataclass(frozen=True, slots=True)
class TypeStats(Record):
    """One task type's attempts in one queue (for a day or in total): processed, failed,
    duration sum and max, histogram buckets, p50 and p95 (s), and its last failure's
    error and when it was (epoch s; "" and None when none was recorded)."""

    queue: str
    type: str
    processed: int
    failed: int
    duration_sum: float
    duration_max: float
    buckets: list[int]
    p50: float
    p95: float
    last_error: str = ""
    last_error_at: float | None = None

    @property
    def error_rate(self) -> float:
        """Failed attempts over attempts (0 with none)."""
        return _rate(self.failed, self.processed)


@dataclass(frozen=True, slots=True)
class DailySeries(Record):
    """Processed and failed attempts, one number per day."""

    processed: list[int]
    failed: list[int]


@dataclass(frozen=True, slots=True)
class Daily(Record):
    """Attempts per day (``days``, today last), per queue and in total."""

    days: list[str]
    queues: dict[str, DailySeries]
    total: DailySeries


@dataclass(frozen=True, slots=True)
class Sample(Record):
    """One queue size sample: when (epoch s) and queue -> state -> count."""

    t: float
    q: dict[str, dict[str, int]]


@dataclass(frozen=True, slots=True)
class MemoryUsage(Record):
    """Bytes a queue holds, estimated: its structures plus its tasks (sampled)."""

    queue: str
    bytes: int
    structures: int
    per_task: float
    tasks: int
    sampled: int


@dataclass(frozen=True, slots=True)
class RedisInfo(Record):
    """What Redis says about itself (version, mode, memory, clients) and the keys under
    Bingo's prefix (counted up to a bound; ``keys_more`` when there are more)."""

    version: str
    mode: str
    address: str
    uptime: int
    used_memory: int
    used_memory_human: str
    used_memory_peak: int
    maxmemory: int
    maxmemory_policy: str
    connected_clients: int
    blocked_clients: int
    ops_per_sec: int
    dbsize: int
    prefix: str
    keys: int
    keys_more: bool
    role: str

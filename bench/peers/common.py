"""What every system's no-op handler does, so each pays the same single Redis command.

A throughput task (no timestamp) INCRs a counter; the call that sees 1 stores the time the
first task started, the call that sees ``BENCH_N`` pushes the time the last one finished.
A latency probe carries its enqueue time and pushes ``now - enqueued`` instead.

The worker processes learn the Redis URL and N from ``BENCH_REDIS_URL`` and ``BENCH_N``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis
import redis.asyncio

COUNT = "benchmark:count"
FIRST = "benchmark:first"
DONE = "benchmark:done"
LATENCY = "benchmark:latency"


def redis_url() -> str:
    """The private Redis the bench started (set by bench/throughput.py)."""
    return os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def total() -> int:
    """How many throughput tasks make a full run (0 outside a measured run)."""
    return int(os.environ.get("BENCH_N", "0"))


class _SyncClient:
    """One client per process (RQ forks a work horse per job; redis-py reconnects there)."""

    def __init__(self) -> None:
        self.client: redis.Redis | None = None

    def get(self) -> redis.Redis:
        if self.client is None:
            self.client = redis.Redis.from_url(redis_url())
        return self.client


_sync = _SyncClient()
_async: dict[int, Any] = {}


def record(ts: float | None = None) -> None:
    """The no-op task body for the thread- and process-based systems."""
    start = time.time()
    r = _sync.get()
    if ts is not None:
        r.rpush(LATENCY, start - float(ts))
        return
    n = r.incr(COUNT)
    if n == 1:
        r.set(FIRST, start)
    if n == total():
        r.rpush(DONE, time.time())


async def record_async(ts: float | None = None) -> None:
    """The no-op task body for the asyncio systems (one client per event loop)."""
    start = time.time()
    import asyncio

    loop_id = id(asyncio.get_running_loop())
    r = _async.get(loop_id)
    if r is None:
        r = _async[loop_id] = redis.asyncio.Redis.from_url(redis_url())
    if ts is not None:
        await r.rpush(LATENCY, start - float(ts))
        return
    n = await r.incr(COUNT)
    if n == 1:
        await r.set(FIRST, start)
    if n == total():
        await r.rpush(DONE, time.time())


class Adapter:
    """The bench's side of one system: enqueue calls and the worker command it runs."""

    name = ""
    #: What the bench runs as the worker (argv after the venv's bin/ prefix is applied).
    worker: list[str] = []

    def open(self) -> None:
        """Connect (called after Redis is flushed, before each run)."""

    def enqueue_one(self, count: int) -> None:
        """Enqueue ``count`` throughput tasks, one enqueue call each."""
        raise NotImplementedError

    def enqueue_bulk(self, count: int, batch: int) -> None:
        """Enqueue ``count`` throughput tasks with the system's bulk API, ``batch`` a call."""
        raise NotImplementedError

    def probe(self) -> None:
        """Enqueue one latency task carrying ``time.time()`` taken just before the call."""
        raise NotImplementedError

    def close(self) -> None:
        """Disconnect (after each run)."""


def batches(count: int, batch: int) -> list[int]:
    """Sizes of the bulk calls that enqueue ``count`` tasks ``batch`` at a time."""
    full, rest = divmod(count, batch)
    return [batch] * full + ([rest] if rest else [])


#: Most enqueue calls in flight at once in the asyncio bulk path (redis-py's asyncio pool
#: holds 100 connections by default and raises past that).
IN_FLIGHT = 50


async def gather_limited(call: Callable[[], Awaitable[Any]], count: int) -> None:
    """Await ``count`` calls of ``call()``, at most :data:`IN_FLIGHT` at a time."""
    import asyncio

    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one() -> None:
        async with gate:
            await call()

    await asyncio.gather(*(one() for _ in range(count)))

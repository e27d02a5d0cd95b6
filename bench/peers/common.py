"""What every system's no-op handler does, the same for each.

A throughput task (no timestamp) counts itself in the worker process; the task that counts
1 stores the time the first task started, the one that counts ``BENCH_N`` pushes the time
the last one finished, and every 1,000th adds 1,000 to a Redis counter the bench watches
for progress. So a throughput task is a true no-op but for one Redis command per 1,000
tasks. RQ's default worker forks a work horse per job, where an in-process count is lost:
there (``BENCH_FORKING=1``) every task INCRs the Redis counter instead. With
``BENCH_BODY=io`` (``throughput.py --body io``) every task of every system INCRs the
counter: one Redis command per task through the handler's own client, an I/O body.
A latency probe carries its enqueue time and pushes ``now - enqueued``.

The worker processes learn the Redis URL and N from ``BENCH_REDIS_URL`` and ``BENCH_N``.
"""

from __future__ import annotations

import itertools
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
_counter = itertools.count(1)  # next() on it is atomic in CPython: safe across threads
FLUSH = 1000


def forking() -> bool:
    """Whether each task runs in a fresh fork (RQ's default worker)."""
    return os.environ.get("BENCH_FORKING") == "1"


def io_body() -> bool:
    """Whether every task INCRs the Redis counter (``--body io``)."""
    return os.environ.get("BENCH_BODY") == "io"


def _progress(n: int) -> int:
    """How much to add to the Redis counter after the task counted ``n`` (0: nothing)."""
    if n % FLUSH == 0:
        return FLUSH
    if n == total():
        return n % FLUSH
    return 0


def record(ts: float | None = None) -> None:
    """The no-op task body for the thread- and process-based systems."""
    start = time.time()
    r = _sync.get()
    if ts is not None:
        r.rpush(LATENCY, start - float(ts))
        return
    if forking() or io_body():
        n = r.incr(COUNT)
    else:
        n = next(_counter)
        if add := _progress(n):
            r.incrby(COUNT, add)
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
    if io_body():
        n = await r.incr(COUNT)
    else:
        n = next(_counter)
        if add := _progress(n):
            await r.incrby(COUNT, add)
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

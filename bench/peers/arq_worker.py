"""arq: the task, ``WorkerSettings`` for ``arq arq_worker.WorkerSettings``, and the adapter.

Bulk: arq has no bulk enqueue; ``enqueue_job`` calls
run concurrently, at most ``common.IN_FLIGHT`` in flight.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from common import Adapter, batches, gather_limited, record_async, redis_url


async def noop(ctx: dict[str, Any], ts: float | None = None) -> None:
    """The no-op task."""
    await record_async(ts)


class WorkerSettings:
    """arq's defaults except the function list and the Redis address."""

    functions = [noop]
    redis_settings = RedisSettings.from_dsn(redis_url())


class ArqAdapter(Adapter):
    name = "arq"
    worker = ["arq", "arq_worker.WorkerSettings"]

    def open(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.pool: ArqRedis = self.loop.run_until_complete(
            create_pool(WorkerSettings.redis_settings)
        )

    def enqueue_one(self, count: int) -> None:
        async def go() -> None:
            for _ in range(count):
                await self.pool.enqueue_job("noop")

        self.loop.run_until_complete(go())

    def enqueue_bulk(self, count: int, batch: int) -> None:
        async def go() -> None:
            for size in batches(count, batch):
                await gather_limited(lambda: self.pool.enqueue_job("noop"), size)

        self.loop.run_until_complete(go())

    def probe(self) -> None:
        async def go() -> None:
            await self.pool.enqueue_job("noop", time.time())

        self.loop.run_until_complete(go())

    def close(self) -> None:
        self.loop.run_until_complete(self.pool.aclose())
        self.loop.close()


ADAPTER = ArqAdapter

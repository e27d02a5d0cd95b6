"""saq: the task, ``settings`` for ``saq saq_worker.settings``, and the adapter.

Single enqueue: ``Queue.enqueue`` (one Lua script call). Bulk: saq has no bulk enqueue;
``enqueue`` calls run concurrently, at most ``common.IN_FLIGHT`` in flight. The worker runs
saq's defaults but the concurrency, set to 50 like Bingo's default.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from common import Adapter, batches, gather_limited, record_async, redis_url
from saq import Queue


async def noop(ctx: dict[str, Any], *, ts: float | None = None) -> None:
    """The no-op task."""
    await record_async(ts)


settings = {
    "queue": Queue.from_url(redis_url(), name="bench"),
    "functions": [noop],
    "concurrency": 50,
}


class SaqAdapter(Adapter):
    name = "saq"
    worker = ["saq", "saq_worker.settings"]

    def open(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.queue = Queue.from_url(redis_url(), name="bench")
        self.loop.run_until_complete(self.queue.connect())

    def enqueue_one(self, count: int) -> None:
        async def go() -> None:
            enqueue = self.queue.enqueue
            for _ in range(count):
                await enqueue("noop")

        self.loop.run_until_complete(go())

    def enqueue_bulk(self, count: int, batch: int) -> None:
        async def go() -> None:
            for size in batches(count, batch):
                await gather_limited(lambda: self.queue.enqueue("noop"), size)

        self.loop.run_until_complete(go())

    def probe(self) -> None:
        self.loop.run_until_complete(self.queue.enqueue("noop", ts=time.time()))

    def close(self) -> None:
        self.loop.run_until_complete(self.queue.disconnect())
        self.loop.close()


ADAPTER = SaqAdapter

"""taskiq: the broker and task for ``taskiq worker taskiq_worker:broker --workers 1``.

Broker: ``RedisStreamBroker`` (taskiq-redis's recommended broker, with acks); taskiq's
worker defaults otherwise (``--max-async-tasks`` 100, no result backend).
Bulk: taskiq has no bulk kick; ``kiq()`` calls run
concurrently, at most ``common.IN_FLIGHT`` in flight.
"""

from __future__ import annotations

import asyncio
import time

from common import Adapter, batches, gather_limited, record_async, redis_url
from taskiq_redis import RedisStreamBroker

broker = RedisStreamBroker(url=redis_url())


@broker.task(task_name="bench:noop")
async def noop(ts: float | None = None) -> None:
    """The no-op task."""
    await record_async(ts)


class TaskiqAdapter(Adapter):
    name = "taskiq"
    worker = ["taskiq", "worker", "taskiq_worker:broker", "--workers", "1"]

    def open(self) -> None:
        self.loop = asyncio.new_event_loop()
        # Creates the stream's consumer group, so tasks sent before the worker starts
        # are delivered to it.
        self.loop.run_until_complete(broker.startup())

    def enqueue_one(self, count: int) -> None:
        async def go() -> None:
            for _ in range(count):
                await noop.kiq()

        self.loop.run_until_complete(go())

    def enqueue_bulk(self, count: int, batch: int) -> None:
        async def go() -> None:
            for size in batches(count, batch):
                await gather_limited(noop.kiq, size)

        self.loop.run_until_complete(go())

    def probe(self) -> None:
        async def go() -> None:
            await noop.kiq(time.time())

        self.loop.run_until_complete(go())

    def close(self) -> None:
        self.loop.run_until_complete(broker.shutdown())
        self.loop.close()


ADAPTER = TaskiqAdapter

"""dramatiq: the broker and actor for ``dramatiq dramatiq_worker --processes 1``, the adapter.

dramatiq's defaults otherwise: 8 worker threads, default middleware, Redis broker.
Bulk: dramatiq has no bulk enqueue; ``group(...).run()`` sends the batch's messages.
"""

from __future__ import annotations

import time

import dramatiq
from common import Adapter, batches, record, redis_url
from dramatiq.brokers.redis import RedisBroker

broker = RedisBroker(url=redis_url())
dramatiq.set_broker(broker)


@dramatiq.actor
def noop(ts: float | None = None) -> None:
    """The no-op actor."""
    record(ts)


class DramatiqAdapter(Adapter):
    name = "dramatiq"
    worker = ["dramatiq", "dramatiq_worker", "--processes", "1"]

    def enqueue_one(self, count: int) -> None:
        for _ in range(count):
            noop.send()

    def enqueue_bulk(self, count: int, batch: int) -> None:
        for size in batches(count, batch):
            dramatiq.group(noop.message() for _ in range(size)).run()

    def probe(self) -> None:
        noop.send(time.time())


ADAPTER = DramatiqAdapter

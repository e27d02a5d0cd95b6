"""huey: the task on a ``RedisHuey`` for ``huey_consumer huey_worker.huey``, and the adapter.

Single enqueue: calling the task (one LPUSH of the pickled message). Bulk: huey has no bulk
enqueue; the calls go one by one. The consumer runs 8 worker threads (``-w 8 -k thread``;
its default is one) and polls with a 1 ms initial delay (``-d 0.001``), so idle pick-up is
not held back by its default 100 ms poll.
"""

from __future__ import annotations

import time

from common import Adapter, batches, record, redis_url
from huey import RedisHuey

huey = RedisHuey("bench", url=redis_url(), results=False)


@huey.task()
def noop(ts: float | None = None) -> None:
    """The no-op task."""
    record(ts)


class HueyAdapter(Adapter):
    name = "huey"
    worker = ["huey_consumer", "huey_worker.huey", "-w", "8", "-k", "thread", "-d", "0.001"]

    def open(self) -> None:
        self.huey = RedisHuey("bench", url=redis_url(), results=False)
        self.task = self.huey.task()(noop.func)

    def enqueue_one(self, count: int) -> None:
        task = self.task
        for _ in range(count):
            task()

    def enqueue_bulk(self, count: int, batch: int) -> None:
        task = self.task
        for size in batches(count, batch):
            for _ in range(size):
                task()

    def probe(self) -> None:
        self.task(time.time())

    def close(self) -> None:
        self.huey.storage.conn.close()


ADAPTER = HueyAdapter

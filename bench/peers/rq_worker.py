"""RQ: the job function for ``rq worker`` and the adapter.

``rq worker`` (class ``Worker``) forks a work horse per job; ``rq-simple`` runs the same
command with ``-w rq.worker.SimpleWorker``, which runs jobs in the worker process.
Bulk: ``Queue.enqueue_many`` with ``Queue.prepare_data`` (one pipeline per call).
"""

from __future__ import annotations

import time

import redis
from common import Adapter, batches, record, redis_url
from rq import Queue

QUEUE = "bench"


def noop(ts: float | None = None) -> None:
    """The no-op job."""
    record(ts)


class RqAdapter(Adapter):
    name = "rq"
    forking = True  # a work horse per job: tasks count in Redis (see common.py)
    worker = ["rq", "worker", "--url", "{url}", QUEUE]

    def open(self) -> None:
        self.conn = redis.Redis.from_url(redis_url())
        self.queue = Queue(QUEUE, connection=self.conn)

    def enqueue_one(self, count: int) -> None:
        for _ in range(count):
            self.queue.enqueue(noop)

    def enqueue_bulk(self, count: int, batch: int) -> None:
        for size in batches(count, batch):
            self.queue.enqueue_many([Queue.prepare_data(noop) for _ in range(size)])

    def probe(self) -> None:
        self.queue.enqueue(noop, time.time())

    def close(self) -> None:
        self.conn.close()


class RqSimpleAdapter(RqAdapter):
    name = "rq-simple"
    forking = False
    worker = ["rq", "worker", "-w", "rq.worker.SimpleWorker", "--url", "{url}", QUEUE]


ADAPTER = RqAdapter

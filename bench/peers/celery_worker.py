"""Celery: the app for ``celery -A celery_worker worker -c 1``, the task, and the adapter.

Celery's defaults: prefork pool (``-c 1``: one pool child beside the consumer process),
prefetch multiplier 4, early acks, no result backend.
Bulk: Celery has no bulk publish; ``group(...).apply_async()`` sends the batch's messages
over one producer.
"""

from __future__ import annotations

import time
from typing import Any

from celery import Celery, group
from common import Adapter, batches, record, redis_url

TASK = "celery_worker.noop"


def make_app() -> Celery:
    """A Celery app on the bench's Redis with the no-op task registered."""
    app = Celery("bench", broker=redis_url(), set_as_current=False)
    app.conf.broker_connection_retry_on_startup = True  # silences a deprecation warning
    app.task(name=TASK)(noop)
    return app


def noop(ts: float | None = None) -> None:
    """The no-op task."""
    record(ts)


app = make_app()


class CeleryAdapter(Adapter):
    name = "celery"
    worker = ["celery", "-A", "celery_worker", "worker", "-c", "1", "--loglevel", "INFO"]

    def open(self) -> None:
        # A fresh app per run: kombu caches queue declarations per connection, and Redis
        # was flushed since the last run.
        self.app = make_app()
        self.task: Any = self.app.tasks[TASK]

    def enqueue_one(self, count: int) -> None:
        for _ in range(count):
            self.task.delay()

    def enqueue_bulk(self, count: int, batch: int) -> None:
        for size in batches(count, batch):
            group(self.task.s() for _ in range(size)).apply_async()

    def probe(self) -> None:
        self.task.delay(time.time())

    def close(self) -> None:
        self.app.close()


ADAPTER = CeleryAdapter

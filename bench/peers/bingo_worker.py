"""Bingo: the registry, the worker entry (``python -m bingo_worker``) and the adapter.

The worker runs ``bingo_core.worker.run_worker`` with Bingo's default settings (only the
Redis URL changed) until SIGTERM. Bulk: ``Client.enqueue_many`` (one round trip a call).
``bingo`` registers an async handler; ``bingo-sync`` (``python -m bingo_worker sync``) the
same body as a sync handler, run in the worker's thread pool.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from common import Adapter, batches, record, record_async, redis_url

TASK = "bench:noop"


async def noop(ctx: Any, payload: dict[str, Any]) -> None:
    """The no-op task."""
    await record_async(payload.get("ts"))


def noop_sync(ctx: Any, payload: dict[str, Any]) -> None:
    """The no-op task as a sync handler."""
    record(payload.get("ts"))


class BenchPlugin:
    """The no-op task type, registered like any plugin's."""

    def __init__(self, sync: bool = False) -> None:
        self.sync = sync

    def bingo_register_tasks(self, register: Any) -> None:
        register(TASK, noop_sync if self.sync else noop)


def make_app(sync: bool = False) -> Any:
    """An app on the bench's Redis whose only plugin is :class:`BenchPlugin`."""
    import bingo_core as bingo
    from bingo_core.app import App

    plugin = BenchPlugin(sync)
    bingo.hookimpl(BenchPlugin.bingo_register_tasks)
    return App(overrides={"redis.url": redis_url()}, plugins=[plugin], entry_points=False)


def main() -> None:
    """Run one worker until SIGTERM."""
    from bingo_core.worker import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    run_worker(make_app(sync=sys.argv[1:] == ["sync"]))


class BingoAdapter(Adapter):
    name = "bingo"
    worker = ["python", "-m", "bingo_worker"]

    def open(self) -> None:
        self.app = make_app()
        self.client = self.app.client

    def enqueue_one(self, count: int) -> None:
        enqueue = self.client.enqueue
        for _ in range(count):
            enqueue(TASK, {})

    def enqueue_bulk(self, count: int, batch: int) -> None:
        for size in batches(count, batch):
            self.client.enqueue_many([(TASK, {}) for _ in range(size)])

    def probe(self) -> None:
        self.client.enqueue(TASK, {"ts": time.time()})

    def close(self) -> None:
        self.app.close()


class BingoSyncAdapter(BingoAdapter):
    name = "bingo-sync"
    worker = ["python", "-m", "bingo_worker", "sync"]


ADAPTER = BingoAdapter

if __name__ == "__main__":
    main()

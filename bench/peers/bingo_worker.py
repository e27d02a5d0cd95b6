"""Bingo: the registry, the worker entry (``python -m bingo_worker``) and the adapter.

The worker runs ``bingo_core.worker.run_worker`` with Bingo's default settings (only the
Redis URL changed) until SIGTERM. Bulk: ``Client.enqueue_many`` (one round trip a call).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from common import Adapter, batches, record_async, redis_url

TASK = "bench:noop"


async def noop(ctx: Any, payload: dict[str, Any]) -> None:
    """The no-op task."""
    await record_async(payload.get("ts"))


def make_registry() -> Any:
    """A registry holding only the no-op task type."""
    from bingo_core.registry import Registry, TaskRegister

    registry = Registry()
    TaskRegister(registry, "bench")(TASK, noop)
    return registry


def main() -> None:
    """Run one worker until SIGTERM."""
    from bingo_core.config import load_settings
    from bingo_core.worker import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = load_settings(None, overrides={"redis.url": redis_url()})
    run_worker(settings, make_registry())


class BingoAdapter(Adapter):
    name = "bingo"
    worker = ["python", "-m", "bingo_worker"]

    def open(self) -> None:
        from bingo_core import Client

        self.client = Client(redis_url=redis_url(), registry=make_registry())

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
        self.client.close()


ADAPTER = BingoAdapter

if __name__ == "__main__":
    main()

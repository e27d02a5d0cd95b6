"""Per queue and task type statistics: processed and failed counts and a duration
histogram, aggregated in memory and written to Redis once a second.

Redis keeps them per day (``P:{q}:stats:<YYYY-MM-DD>``, kept 40 days) and in total
(``P:{q}:stats:total``), so every worker process and daemon adds to the same figures;
the dashboard, ``/metrics`` and plugins (``ctx.inspector.task_stats``) read them.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from typing import TYPE_CHECKING

from ..broker import CONNECTION_ERRORS
from ..broker.scripts import DURATION_BUCKETS

if TYPE_CHECKING:
    from ..broker import AsyncBroker

log = logging.getLogger("bingo.worker")
FLUSH_INTERVAL = 1.0


class _Agg:
    __slots__ = ("buckets", "failed", "max", "processed", "total")

    def __init__(self) -> None:
        self.processed = 0
        self.failed = 0
        self.total = 0.0
        self.max = 0.0
        self.buckets = [0] * (len(DURATION_BUCKETS) + 1)


class StatsRecorder:
    """``observe()`` each finished attempt; ``start()`` / ``stop()`` the flush loop."""

    def __init__(self, broker: AsyncBroker) -> None:
        self.broker = broker
        self._pending: dict[tuple[str, str], _Agg] = {}
        self._task: asyncio.Task[None] | None = None

    def observe(self, queue: str, task_type: str, duration: float, ok: bool) -> None:
        """Count one attempt that ran ``duration`` seconds and succeeded or failed."""
        agg = self._pending.get((queue, task_type))
        if agg is None:
            agg = self._pending[(queue, task_type)] = _Agg()
        agg.processed += 1
        if not ok:
            agg.failed += 1
        agg.total += duration
        if duration > agg.max:
            agg.max = duration
        agg.buckets[bisect.bisect_left(DURATION_BUCKETS, duration)] += 1

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="bingo-stats")

    async def stop(self) -> None:
        """Stop the loop and write what is left."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        try:
            await self.flush()
        except CONNECTION_ERRORS as exc:
            log.warning("task statistics of the last second not written: %s", exc)

    async def flush(self) -> None:
        """Write the aggregated figures (one script call per queue, one round trip)."""
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        by_queue: dict[str, list[tuple[str, int, int, float, float, list[int]]]] = {}
        for (queue, task_type), a in batch.items():
            by_queue.setdefault(queue, []).append(
                (task_type, a.processed, a.failed, a.total, a.max, a.buckets)
            )
        try:
            await self.broker.record_stats(by_queue)
        except BaseException:
            for key, agg in batch.items():  # keep them for the next flush
                mine = self._pending.setdefault(key, _Agg())
                mine.processed += agg.processed
                mine.failed += agg.failed
                mine.total += agg.total
                mine.max = max(mine.max, agg.max)
                mine.buckets = [x + y for x, y in zip(mine.buckets, agg.buckets, strict=True)]
            raise

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            try:
                await self.flush()
            except CONNECTION_ERRORS as exc:
                log.debug("task statistics not written yet: %s", exc)

"""Per queue and task type statistics: processed and failed counts and a duration
histogram, aggregated in memory and written to Redis once a second.

Redis keeps them per day (``P:{q}:stats:<YYYY-MM-DD>``, kept 40 days) and in total
(``P:{q}:stats:total``), so every worker process and daemon adds to the same figures;
the dashboard, ``/metrics`` and plugins (``ctx.inspector.task_stats``) read them.
"""

from __future__ import annotations

import bisect
import logging
import time
from typing import TYPE_CHECKING, Any

from ..broker.scripts import DURATION_BUCKETS, StatsRow
from ..loops import Idle, Outage, SurvivingLoop, one_line

if TYPE_CHECKING:
    from ..broker import AsyncBroker

log = logging.getLogger("bingo.worker")
FLUSH_INTERVAL = 1.0


#: Per (queue, type): processed, failed, duration sum, duration max, then one count per
#: bucket of :data:`DURATION_BUCKETS` and one above them, then the last failure's error
#: and when it was (epoch s).
_Agg = list[Any]
_WIDTH = 4 + len(DURATION_BUCKETS) + 1
_ERROR, _ERROR_AT = _WIDTH, _WIDTH + 1


def _new() -> _Agg:
    return [0, 0, 0.0, 0.0] + [0] * (_WIDTH - 4) + ["", 0.0]


def _merge(into: _Agg, other: _Agg) -> None:
    into[0] += other[0]
    into[1] += other[1]
    into[2] += other[2]
    into[3] = max(into[3], other[3])
    for i in range(4, _WIDTH):
        into[i] += other[i]
    if other[_ERROR_AT] > into[_ERROR_AT]:
        into[_ERROR], into[_ERROR_AT] = other[_ERROR], other[_ERROR_AT]


class StatsRecorder:
    """``observe()`` each finished attempt; ``start()`` / ``stop()`` the flush loop."""

    def __init__(self, broker: AsyncBroker, outage: Outage | None = None) -> None:
        self.broker = broker
        self._pending: dict[tuple[str, str], _Agg] = {}
        self._loop = SurvivingLoop(
            "task statistics", self._step, log, outage, task_name="bingo-stats"
        )

    def observe(
        self,
        queue: str,
        task_type: str,
        duration: float,
        ok: bool,
        error: str = "",
        _bucket: Any = bisect.bisect_left,
        _bounds: tuple[float, ...] = DURATION_BUCKETS,
    ) -> None:
        """Count one attempt that ran ``duration`` seconds and succeeded or failed (with
        ``error``, the task's stored error text, kept as the type's last error)."""
        agg = self._pending.get((queue, task_type))
        if agg is None:
            agg = self._pending[(queue, task_type)] = _new()
        agg[0] += 1
        if not ok:
            agg[1] += 1
            agg[_ERROR], agg[_ERROR_AT] = error, time.time()
        agg[2] += duration
        if duration > agg[3]:
            agg[3] = duration
        agg[4 + _bucket(_bounds, duration)] += 1

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        """Stop the loop and write what is left."""
        await self._loop.stop()
        try:
            await self.flush()
        except Exception as exc:
            log.warning("task statistics of the last second not written: %s", one_line(exc))

    async def flush(self) -> None:
        """Write the aggregated figures, one script call per queue. The figures of a queue
        whose call fails are kept for the next flush (the others are written): a queue
        whose statistics key holds the wrong type holds up no other."""
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        by_queue: dict[str, list[StatsRow]] = {}
        for (queue, task_type), a in batch.items():
            row = StatsRow(task_type, a[0], a[1], a[2], a[3], a[4:_WIDTH], a[_ERROR], a[_ERROR_AT])
            by_queue.setdefault(queue, []).append(row)
        failed: Exception | None = None
        stopped: BaseException | None = None  # cancelled: the rest stays unsent
        for queue, rows in by_queue.items():
            if stopped is None:
                try:
                    await self.broker.record_stats({queue: rows})
                    continue
                except Exception as exc:
                    failed = failed or exc
                except BaseException as exc:
                    stopped = exc
            self._keep({k: a for k, a in batch.items() if k[0] == queue})
        if stopped is not None:
            raise stopped
        if failed is not None:
            raise failed

    def _keep(self, batch: dict[tuple[str, str], _Agg]) -> None:
        """Put figures that were not written back, for the next flush."""
        for key, agg in batch.items():
            mine = self._pending.get(key)
            if mine is None:
                self._pending[key] = agg
            else:
                _merge(mine, agg)

    async def _step(self) -> float:
        if not self._pending:
            return Idle(FLUSH_INTERVAL)
        await self.flush()
        return FLUSH_INTERVAL

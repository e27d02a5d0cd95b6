"""Acks, batched: every completion of one loop iteration goes to Redis in one ``ack.lua``
call per queue, with the handler's result kept while the task is retained.

Acks that fail are kept and retried: Redis not answering with backoff (the daemon's one
line), a queue whose keys hold the wrong type on its own (one line naming the key).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic_core import PydanticSerializationError, to_json

from ..broker import AsyncBroker
from ..loops import (
    FIRST_DELAY,
    Faults,
    Guard,
    Outage,
    cancel_and_wait,
    is_connection_error,
    one_line,
)

log = logging.getLogger("bingo.worker")
#: Attempts at writing the last acks while shutting down before giving up on them.
SHUTDOWN_ACK_ATTEMPTS = 3
#: How long a stopping worker waits for an ack write already on its way before cutting it
#: off (a write cut off mid-way may have run in Redis and is then sent again).
STOP_WAIT = 5.0
#: One ack: task id, retention (s), unique key, result JSON.
Ack = tuple[str, float, str, str]


def result_json(task_id: str, result: Any, max_size: int) -> str:
    """The result as JSON to keep with the task, or "" (none, over ``max_size`` bytes
    (``worker.maxResultSize``), not JSON); a dropped result is one warning."""
    if result is None:
        return ""
    try:
        text = to_json(result).decode()
    except (PydanticSerializationError, ValueError, TypeError) as exc:
        log.warning("task %s: result dropped: not JSON-serialisable (%s)", task_id, exc)
        return ""
    if len(text) > max_size:
        log.warning(
            "task %s: result dropped: %d bytes of JSON, over worker.maxResultSize (%d)",
            task_id,
            len(text),
            max_size,
        )
        return ""
    return text


class Acks:
    """The acks of one worker (``server_id``), written in the background as they come.

    ``write(queue, items)`` writes one queue's batch and returns the ids that were lost;
    by default ``ack.lua`` through the broker (a queue of ``asynq.queues`` has its own).
    """

    def __init__(
        self,
        broker: AsyncBroker,
        server_id: str,
        outage: Outage,
        limited: frozenset[str] = frozenset(),
        write: Callable[[str, list[Any]], Awaitable[list[str]]] | None = None,
    ) -> None:
        self.broker = broker
        self.server_id = server_id
        #: Queues with their own limits: an ack there wakes a worker waiting for a slot.
        self.limited = limited
        self._write = write or self._bingo_ack
        self._pending: dict[str, list[Any]] = {}
        self._flushing: asyncio.Task[None] | None = None
        self._stopping = False
        self._stop = asyncio.Event()
        self._guard = Guard("ack flush", log, outage)
        self._faults = Faults(
            log,
            lambda q, exc: f"queue {q}: ack failed: {one_line(exc)}; kept and retried",
            lambda q: f"queue {q}: acks written again",
        )

    async def _bingo_ack(self, queue: str, items: list[Any]) -> list[str]:
        return await self.broker.ack(queue, items, self.server_id, wake=queue in self.limited)

    def add(self, queue: str, ack: Any) -> None:
        """Ack a task of ``queue``; written by the flush running, or by one started now."""
        self._pending.setdefault(queue, []).append(ack)
        if self._flushing is None:
            self._flushing = asyncio.create_task(self.flush())

    async def stop(self) -> None:
        """Write what is left, taking over a flush that backs off; give up after
        :data:`SHUTDOWN_ACK_ATTEMPTS` failed attempts (those tasks run again once their
        lease expires)."""
        self._stopping = True
        self._stop.set()  # a flush backing off writes again now
        flushing = self._flushing
        if flushing is not None:
            # A write on its way is waited for: cut off, it could run in Redis and be sent
            # again, answered as tasks no longer active.
            await asyncio.wait([flushing], timeout=STOP_WAIT)
            await cancel_and_wait(flushing)
        await self.flush()

    async def flush(self) -> None:
        """Write the gathered acks, one script call per queue, until none is left."""
        attempts = 0
        try:
            while self._pending:
                delay = await self._write_once()
                if not self._pending:
                    break
                attempts += 1
                if self._stopping and attempts >= SHUTDOWN_ACK_ATTEMPTS:
                    log.error(
                        "shutdown: %d finished task(s) could not be acked; they run again "
                        "once their lease expires",
                        sum(len(v) for v in self._pending.values()),
                    )
                    self._pending.clear()
                    return
                if delay is None:
                    delay = self._faults.next_retry() or FIRST_DELAY
                if self._stopping:
                    await asyncio.sleep(delay)
                else:  # until the backoff passed or the worker stops
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), delay)
        finally:
            self._flushing = None

    async def _write_once(self) -> float | None:
        """One call per queue; returns the backoff when Redis did not answer."""
        batch, self._pending = self._pending, {}
        delay: float | None = None
        for queue, items in batch.items():
            if not self._faults.ready(queue):
                self._pending.setdefault(queue, []).extend(items)
                continue
            try:
                lost = await self._write(queue, items)
            except BaseException as exc:
                self._pending.setdefault(queue, []).extend(items)
                if not isinstance(exc, Exception):
                    raise
                if is_connection_error(exc):
                    delay = self._guard.failed(exc)
                else:
                    self._faults.failed(queue, exc)
                continue
            self._guard.ok()
            self._faults.ok(queue)
            if lost:
                log.warning(
                    "%d task(s) finished after their lease expired (they may run again): %s",
                    len(lost),
                    ", ".join(lost[:5]),
                )
        return delay

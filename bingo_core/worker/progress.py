"""``ctx.progress``, coalesced: at most one write per task every :data:`INTERVAL`
seconds, and the newest value written once more when the attempt ends.

A report is a few attribute writes on the handler's side (any thread); the first report
after a write arms a timer on the worker's loop, which writes the value newest at that
moment (``progress.lua``, only while this worker holds the task). A report from a thread
reaches the loop through ``call_soon_threadsafe`` only when it arms the timer, so a
handler may report every few milliseconds. Errors writing progress are logged at debug
level and never touch the task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from ..records.progress import TaskProgress

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..broker import AsyncBroker

log = logging.getLogger("bingo.worker")
#: Seconds between two writes of one task's progress.
INTERVAL = 0.5


class _Slot:
    """One task's progress: the newest value and what was written."""

    __slots__ = ("armed", "closed", "last_write", "value", "written")

    def __init__(self) -> None:
        self.value: TaskProgress | None = None
        self.written: TaskProgress | None = None
        self.armed = False
        self.closed = False
        self.last_write = 0.0


class ProgressWriter:
    """The progress of the tasks one worker (``server_id``) runs."""

    def __init__(self, broker: AsyncBroker, server_id: str, interval: float = INTERVAL) -> None:
        self.broker = broker
        self.server_id = server_id
        self.interval = interval
        self._slots: dict[str, _Slot] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writes: set[asyncio.Task[None]] = set()
        #: Tasks whose first report (from a thread) has not reached the loop yet.
        self._early: dict[str, _Slot] = {}
        #: Of those, the tasks whose attempt has ended meanwhile.
        self._finished: set[str] = set()

    def bind(self) -> None:
        """Remember the worker's loop (call on it before the first task runs)."""
        self._loop = asyncio.get_running_loop()

    def reported(self, task_id: str) -> bool:
        """Whether the task reported progress in this attempt."""
        return task_id in self._slots or task_id in self._early

    def report(self, queue: str, task_id: str, record: TaskProgress) -> None:
        """``ctx.progress``'s target (any thread): keep ``record`` as the newest value
        and arm the write timer unless it is armed."""
        loop = self._loop
        if loop is None:
            return
        slot = self._slots.get(task_id) or self._early.get(task_id)
        if slot is None:
            slot = _Slot()
            slot.value = record
            slot.armed = True
            self._early[task_id] = slot
            self._call(loop, self._first, queue, task_id, slot)
            return
        if slot.closed:
            return
        slot.value = record
        if not slot.armed:
            slot.armed = True
            self._call(loop, self._arm, queue, task_id, slot)

    @staticmethod
    def _call(loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: object) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            fn(*args)
        else:
            with contextlib.suppress(RuntimeError):  # a closed loop: the worker is gone
                loop.call_soon_threadsafe(fn, *args)

    def _first(self, queue: str, task_id: str, slot: _Slot) -> None:
        self._early.pop(task_id, None)
        if task_id in self._finished:  # the attempt ended before this report arrived
            self._finished.discard(task_id)
            return
        if task_id in self._slots:  # another thread's first report came first
            old = self._slots[task_id]
            old.value = slot.value
            if not old.armed:
                old.armed = True
                self._arm(queue, task_id, old)
            return
        self._slots[task_id] = slot
        self._arm(queue, task_id, slot)

    def _arm(self, queue: str, task_id: str, slot: _Slot) -> None:
        assert self._loop is not None
        delay = max(0.0, slot.last_write + self.interval - time.monotonic())
        self._loop.call_later(delay, self._due, queue, task_id, slot)

    def _due(self, queue: str, task_id: str, slot: _Slot) -> None:
        slot.armed = False
        if slot.closed:
            return
        write = asyncio.ensure_future(self._write(queue, task_id, slot))
        self._writes.add(write)
        write.add_done_callback(self._writes.discard)

    async def _write(self, queue: str, task_id: str, slot: _Slot) -> None:
        value = slot.value
        if value is None or value is slot.written:
            return
        slot.last_write = time.monotonic()
        slot.written = value
        try:
            await self.broker.set_progress(queue, task_id, self.server_id, value.encode())
        except Exception as exc:
            log.debug("task %s: progress not written: %s", task_id, exc)

    async def finish(self, queue: str, task_id: str) -> None:
        """The attempt ended: write the newest value if it was not written yet; later
        reports (an abandoned thread's) are dropped."""
        slot = self._slots.pop(task_id, None)
        early = self._early.pop(task_id, None)
        if early is not None:  # its first report has not reached the loop yet
            self._finished.add(task_id)
            slot = slot or early
        if slot is None:
            return
        slot.closed = True
        await self._write(queue, task_id, slot)

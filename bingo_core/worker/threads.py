"""The threads that run sync handlers, and the timers that bound handlers.

:class:`HandlerThreads` hands a job to a thread with one ``SimpleQueue.put`` (no future,
no lock, no work item: a ``ThreadPoolExecutor.submit`` costs several times that, on the
loop's thread). Threads start as needed, up to the set's size; its owner counts a job
done (on the loop) when the job's outcome has reached it. As the standard pool's, the
threads are joined when the interpreter exits: a job already started ends first.

:class:`LazyTimers` bounds a handler by its timeout without a timer handle per task: a
timeout longer than :data:`SWEEP` seconds gets its timer at the next sweep (one timer for
every task that started since the last), at the same deadline; most tasks end before.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import weakref
from collections.abc import Callable
from typing import Any

#: Timeouts longer than this are armed at the next sweep, which runs this often.
SWEEP = 1.0

_Job = tuple[Callable[..., None], tuple[Any, ...]] | None
_live: weakref.WeakSet[HandlerThreads] = weakref.WeakSet()
_exiting = False


def _at_exit() -> None:
    """As the interpreter exits: let every set's threads end once their job is done."""
    global _exiting
    _exiting = True
    for threads in list(_live):
        threads.shutdown()


threading._register_atexit(_at_exit)  # type: ignore[attr-defined]


class HandlerThreads:
    """At most ``size`` threads (named ``<prefix>_<n>``) running jobs in order given."""

    def __init__(self, size: int, prefix: str) -> None:
        self.size = max(1, size)
        self.prefix = prefix
        #: Jobs given and not yet counted done by the owner (:meth:`done`, on the loop).
        self.outstanding = 0
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._closed = False
        _live.add(self)

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` on a thread (started now when every thread has a job)."""
        if self._closed or _exiting:
            raise RuntimeError("cannot run a handler after the worker's threads were closed")
        self.outstanding += 1
        if self.outstanding > len(self._threads) < self.size:
            thread = threading.Thread(
                target=self._serve, name=f"{self.prefix}_{len(self._threads)}"
            )
            thread.start()
            self._threads.append(thread)
        self._jobs.put((fn, args))

    def done(self) -> None:
        """A job's outcome reached the owner: its thread is free again."""
        self.outstanding -= 1

    def _serve(self) -> None:
        get = self._jobs.get
        while True:
            job = get()
            if job is None:
                return
            fn, args = job
            fn(*args)
            del job, fn, args  # nothing of a finished job stays alive with an idle thread

    def shutdown(self, cancel_pending: bool = False) -> None:
        """Let the threads end once their job is done; ``cancel_pending``: jobs not yet
        started never run. Does not wait."""
        if self._closed:
            return
        self._closed = True
        if cancel_pending:
            try:
                while True:
                    self._jobs.get_nowait()
            except queue.Empty:
                pass
        for _ in self._threads:
            self._jobs.put(None)


class LazyTimers:
    """Timeouts keyed by a task's own object (its asyncio task, or its future)."""

    def __init__(self) -> None:
        #: Not armed yet: key -> (deadline on the loop's clock, callback, its arguments).
        self._waiting: dict[object, tuple[float, Callable[..., None], tuple[Any, ...]]] = {}
        self._armed: dict[object, asyncio.TimerHandle] = {}
        self._sweep: asyncio.TimerHandle | None = None
        self._sweep_loop: asyncio.AbstractEventLoop | None = None

    def start(
        self,
        loop: asyncio.AbstractEventLoop,
        key: object,
        timeout: float,
        fire: Callable[..., None],
        *args: Any,
    ) -> None:
        """Call ``fire(*args)`` ``timeout`` seconds from now unless :meth:`cancel` comes
        first."""
        if timeout <= SWEEP:
            self._armed[key] = loop.call_later(timeout, self._fire, key, fire, args)
            return
        self._waiting[key] = (loop.time() + timeout, fire, args)
        if self._sweep is None or self._sweep_loop is not loop:
            self._sweep = loop.call_later(SWEEP, self._arm, loop)
            self._sweep_loop = loop

    def cancel(self, key: object) -> None:
        if self._waiting.pop(key, None) is None:
            handle = self._armed.pop(key, None)
            if handle is not None:
                handle.cancel()

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        """The sweep: every timeout still waiting gets its timer, at its own deadline."""
        self._sweep = None
        waiting, self._waiting = self._waiting, {}
        for key, (when, fire, args) in waiting.items():
            self._armed[key] = loop.call_at(when, self._fire, key, fire, args)

    def _fire(self, key: object, fire: Callable[..., None], args: tuple[Any, ...]) -> None:
        self._armed.pop(key, None)
        fire(*args)

"""Background loops that survive: no exception stops one.

Every background loop of the daemon (fetch, ack flush, heartbeat, recoverer, statistics,
leader lease, ticker, ``sys_crontab`` sync, status publisher) handles its failures the same
way, through a :class:`Guard`:

- the first failure of a streak is logged once, as one line naming the loop and the cause
  (the traceback goes to the debug level);
- the loop retries with capped exponential backoff (:class:`Backoff`: 0.1 s doubling to
  5 s);
- the first success after a failure logs one "recovered" line.

Redis not answering is not a loop's own failure: every loop of a process reports it to one
shared :class:`Outage` (per broker), so an outage is one line for the whole daemon, and the
return of Redis one more.

:class:`Faults` does the same per item (a queue whose keys hold the wrong type is skipped
and retried on its own, the other queues go on). :class:`SurvivingLoop` is a loop with
``start()`` / ``stop()`` around a step that returns the seconds until the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

#: First retry delay after a failure (seconds), doubled at each failure in a row ...
FIRST_DELAY = 0.1
#: ... up to this.
MAX_DELAY = 5.0
#: A Redis failure counts as an outage (and is logged) once failures have gone on this
#: long with no success in between; a lone failure that the next attempt cures (a pooled
#: connection that Redis closed while it restarted) stays at the debug level.
OUTAGE_AFTER = 0.25

_SCRIPT_SUFFIX = re.compile(r"\s*script: \w+, on @user_script:\d+\.?\s*$")


def one_line(exc: BaseException, limit: int = 600) -> str:
    """``Type: message`` on one line, at most ``limit`` characters (Redis' ``script: <sha>``
    suffix dropped)."""
    text = _SCRIPT_SUFFIX.sub("", " ".join(str(exc).split()))
    name = type(exc).__name__
    line = f"{name}: {text}" if text else name
    return line if len(line) <= limit else line[: limit - 3] + "..."


def is_connection_error(exc: BaseException) -> bool:
    """Whether ``exc`` means Redis is not reachable right now."""
    # lazy: keeps redis out of the CLI's start-up (the CLI classifies its errors here)
    from .broker import CONNECTION_ERRORS

    return isinstance(exc, CONNECTION_ERRORS)


def is_wrong_type(exc: BaseException) -> bool:
    """Whether ``exc`` is Redis refusing a command on a key of the wrong type."""
    return "WRONGTYPE" in str(exc)


async def cancel_and_wait(*tasks: asyncio.Task[Any] | None, every: float = 0.5) -> None:
    """Cancel ``tasks`` and wait until each has ended, cancelling again any that goes on.

    A cancellation can be lost inside a library (redis-py's asyncio client drops one that
    arrives while it connects), so one ``cancel()`` is not enough to stop a loop for sure.
    """
    pending = {t for t in tasks if t is not None and not t.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=every)
    for ended in tasks:
        if ended is not None and not ended.cancelled():
            ended.exception()  # retrieved: never "exception was never retrieved"


class Backoff:
    """Capped exponential backoff: ``first``, doubled at each :meth:`next`, up to ``cap``."""

    def __init__(self, first: float = FIRST_DELAY, cap: float = MAX_DELAY) -> None:
        self.first = first
        self.cap = max(first, cap)
        self.attempts = 0

    def next(self) -> float:
        """The delay before the next attempt (and count this failure)."""
        delay = min(self.cap, self.first * 2.0 ** min(self.attempts, 30))
        self.attempts += 1
        return delay

    def reset(self) -> None:
        """A success: the next failure waits ``first`` again."""
        self.attempts = 0


class Outage:
    """Whether a service answers, shared by every loop of a process that uses it.

    :meth:`failed` on each connection error, :meth:`answered` on each success after one:
    the outage is logged once (when it has lasted :data:`OUTAGE_AFTER`), its end once.
    """

    def __init__(self, service: str, address: str, logger: logging.Logger) -> None:
        self.service = service
        self.address = address
        self.log = logger
        self.down_since: float | None = None
        self.reported = False
        self.failures = 0

    @property
    def down(self) -> bool:
        """Whether the last thing heard was a failure."""
        return self.down_since is not None

    def failed(self, exc: BaseException) -> None:
        """A loop could not reach the service."""
        now = time.monotonic()
        if self.down_since is None:
            self.down_since = now
        self.failures += 1
        if not self.reported and now - self.down_since >= OUTAGE_AFTER:
            self.reported = True
            self.log.error(
                "%s at %s is not reachable (%s); the daemon keeps running and retries "
                "(every loop backs off up to %gs)",
                self.service,
                self.address,
                one_line(exc),
                MAX_DELAY,
            )

    def answered(self) -> None:
        """A loop reached the service."""
        if self.down_since is None:
            return
        if self.reported:
            self.log.info(
                "%s reachable again at %s after %.1fs",
                self.service,
                self.address,
                time.monotonic() - self.down_since,
            )
        self.down_since = None
        self.reported = False
        self.failures = 0


_outages: weakref.WeakKeyDictionary[Any, Outage] = weakref.WeakKeyDictionary()


def redis_outage(broker: Any) -> Outage:
    """The :class:`Outage` of the Redis behind ``broker`` (one per broker, so one per
    daemon process: the worker and the scheduler share the app's asyncio broker)."""
    outage = _outages.get(broker)
    if outage is None:
        address = str(getattr(getattr(broker, "cfg", None), "address", "?"))
        outage = _outages[broker] = Outage("Redis", address, logging.getLogger("bingo.daemon"))
    return outage


class Guard:
    """The failures of one loop: logged once per streak, retried with backoff, the
    recovery logged once. Redis connection errors go to the shared :class:`Outage`."""

    def __init__(
        self,
        name: str,
        logger: logging.Logger,
        outage: Outage | None = None,
        *,
        cap: float = MAX_DELAY,
    ) -> None:
        self.name = name
        self.log = logger
        self.outage = outage
        self.backoff = Backoff(cap=cap)
        self.failing_since: float | None = None  # a failure of the loop's own (logged)
        self.unreachable = False  # the last failure was Redis not answering

    @property
    def failing(self) -> bool:
        """Whether the last attempt failed."""
        return self.failing_since is not None or self.unreachable

    def failed(self, exc: BaseException) -> float:
        """Record a failure; returns the seconds to wait before the next attempt."""
        if self.outage is not None and is_connection_error(exc):
            self.unreachable = True
            self.outage.failed(exc)
            self.log.debug("%s: %s", self.name, one_line(exc))
        else:
            if self.failing_since is None:
                self.failing_since = time.monotonic()
                self.log.error(
                    "%s failed: %s; retrying with backoff (up to %gs)",
                    self.name,
                    one_line(exc),
                    self.backoff.cap,
                )
            self.log.debug("%s failed", self.name, exc_info=exc)
        return self.backoff.next()

    def ok(self) -> None:
        """Record a success (the attempt reached Redis, when the loop uses Redis)."""
        if self.failing_since is not None:
            self.log.info(
                "%s recovered after %.1fs", self.name, time.monotonic() - self.failing_since
            )
            self.failing_since = None
        if self.unreachable:
            self.unreachable = False
            if self.outage is not None:
                self.outage.answered()
        self.backoff.reset()


class Faults:
    """Failure streaks per item (a queue, a key): each item that fails is logged once
    with ``describe(item, exc)``, skipped until its backoff runs out, and its recovery
    logged once; the other items are not held up."""

    def __init__(
        self,
        logger: logging.Logger,
        describe: Callable[[str, BaseException], str],
        recovered: Callable[[str], str],
    ) -> None:
        self.log = logger
        self.describe = describe
        self.recovered = recovered
        self._items: dict[str, tuple[Backoff, float, float]] = {}  # backoff, since, retry at

    def ready(self, item: str) -> bool:
        """Whether ``item`` may be tried now (it is not failing, or its backoff ran out)."""
        state = self._items.get(item)
        return state is None or time.monotonic() >= state[2]

    def failing(self) -> list[str]:
        """The items whose last attempt failed."""
        return list(self._items)

    def next_retry(self) -> float | None:
        """Seconds until the first failing item may be tried again (None: none fails)."""
        if not self._items:
            return None
        return max(0.0, min(s[2] for s in self._items.values()) - time.monotonic())

    def failed(self, item: str, exc: BaseException) -> None:
        """``item`` failed: log it (first time in a row only) and back off."""
        now = time.monotonic()
        state = self._items.get(item)
        if state is None:
            backoff, since = Backoff(), now
            self.log.error("%s", self.describe(item, exc))
        else:
            backoff, since = state[0], state[1]
        self.log.debug("%s failed", item, exc_info=exc)
        self._items[item] = (backoff, since, now + backoff.next())

    def ok(self, item: str) -> None:
        """``item`` worked: log its recovery when it was failing."""
        state = self._items.pop(item, None)
        if state is not None:
            self.log.info("%s (after %.1fs)", self.recovered(item), time.monotonic() - state[1])


class Idle(float):
    """What a :class:`SurvivingLoop` step returns (the seconds until the next step) when it
    did not reach Redis this time: it says nothing about whether Redis answers."""


class SurvivingLoop:
    """``await step()`` forever: it returns the seconds until the next step (as
    :class:`Idle` when it did not reach Redis); a step that raises is handled by
    :class:`Guard` (logged once, retried with backoff).

    ``max_delay`` caps the wait after a failure (a heartbeat must not wait longer than
    its own interval). ``wake()`` ends the current wait at once.
    """

    def __init__(
        self,
        name: str,
        step: Callable[[], Awaitable[float]],
        logger: logging.Logger,
        outage: Outage | None = None,
        *,
        max_delay: float = MAX_DELAY,
        task_name: str | None = None,
    ) -> None:
        self.name = name
        self.step = step
        self.guard = Guard(name, logger, outage, cap=max_delay)
        self.task_name = task_name or f"bingo-{name.replace(' ', '-')}"
        self.task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None

    def start(self) -> None:
        """Start the loop on the running event loop (the first step runs at once)."""
        if self.task is None or self.task.done():
            self._wake = asyncio.Event()
            self.task = asyncio.get_running_loop().create_task(self.run(), name=self.task_name)

    def wake(self) -> None:
        """Run the next step now."""
        if self._wake is not None:
            self._wake.set()

    async def stop(self) -> None:
        """Stop the loop and wait for it to end."""
        task, self.task = self.task, None
        await cancel_and_wait(task)

    async def run(self) -> None:
        """The loop itself (``start()`` runs it as a task)."""
        if self._wake is None:
            self._wake = asyncio.Event()
        wake = self._wake
        while True:
            wake.clear()
            try:
                delay = await self.step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = self.guard.failed(exc)
            else:
                if not isinstance(delay, Idle):
                    self.guard.ok()
            if delay > 0 and not wake.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=delay)


#: How close to an instant :func:`wait_until` stops sleeping and yields to the loop instead.
FINE_WAIT = 0.002


async def wait_until(instant: float) -> None:
    """Return at ``instant`` (a ``time.time()``) or just after it: sleep until shortly
    before it, then yield to the event loop (other tasks run) until it comes. A timer alone
    wakes a millisecond or more late: the loop's timeouts are whole milliseconds, and a
    busy machine adds to that."""
    while (left := instant - time.time()) > 0:
        await asyncio.sleep(left - FINE_WAIT if left > FINE_WAIT else 0)

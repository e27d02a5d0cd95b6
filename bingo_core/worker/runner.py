"""Run one handler: async on the loop, sync in a thread, or isolated in a process,
inside the registered middleware.

Timeouts: an async handler is cancelled; a sync handler's context is flagged ``cancelled``
and its thread abandoned (the slot is freed at once); a process-isolated handler is killed.
The timeout bounds the handler: a middleware sees its ``TaskTimeout`` as it sees any error.

Middleware (``bingo_register_middleware``) run on the event loop, the first registered
outermost; with none registered a handler is called directly (no wrapper at all).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from ..context import TaskContext
from ..errors import MiddlewareError, TaskTimeout
from ..registry import CallNext, Middleware, TaskType
from .isolation import run_isolated
from .threads import HandlerThreads, LazyTimers

log = logging.getLogger("bingo.worker")


def _link(mw: Middleware, ctx: TaskContext, payload: Any, inner: CallNext) -> CallNext:
    """``call_next`` for ``mw``: runs ``inner`` once (a second call raises)."""
    called = False

    async def call_next() -> Any:
        nonlocal called
        if called:
            raise RuntimeError(f"middleware {mw.name} ({mw.plugin}) called call_next twice")
        called = True
        return await inner()

    async def outer() -> Any:
        return await mw.function(ctx, payload, call_next)

    return outer


#: The result a timed-out sync handler's future is given by its timer.
_TIMED_OUT = object()


def _time_out(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_result(_TIMED_OUT)


class HandlerRunner:
    """Runs handlers for one worker; owns its thread pool."""

    def __init__(
        self, threads: int, middleware: Sequence[Middleware] = (), carry_context: bool = False
    ) -> None:
        self.threads = max(1, threads)
        self.middleware = tuple(middleware)
        #: Run a sync handler in a copy of the caller's context variables (the consumer
        #: span, when tracing is on, so its ``ctx.enqueue`` and its own spans continue it).
        self.carry_context = carry_context
        self._pool = self._new_pool()
        self._abandoned = 0
        #: Every handler's timeout (armed late: most tasks end first).
        self._timers = LazyTimers()
        #: Handlers' outcomes the threads left for the loop:
        #: (their thread set, future, result, exception).
        self._finished: deque[
            tuple[HandlerThreads, asyncio.Future[Any], Any, BaseException | None]
        ] = deque()
        #: Whether a wake-up of the loop is on its way (one per batch of outcomes).
        self._wake_armed = False
        #: Abandoned handlers still running: their future -> (context, pool generation).
        self._late: dict[asyncio.Future[Any], tuple[TaskContext, int]] = {}
        self._generation = 0

    def _new_pool(self) -> HandlerThreads:
        return HandlerThreads(self.threads, "bingo-task")

    def run(
        self,
        tt: TaskType,
        ctx: TaskContext,
        payload: Any,
        timeout: float | None,
        isolation: str = "thread",
    ) -> Coroutine[Any, Any, Any]:
        """Run the handler inside the middleware and return its result; raise
        :class:`TaskTimeout` when ``timeout`` passes. (A coroutine to await: with no
        middleware, the handler's own call, one frame less on every resume.)"""
        if not self.middleware:
            return self._call(tt, ctx, payload, timeout, isolation)
        return self._wrapped(tt, ctx, payload, timeout, isolation)

    async def _wrapped(
        self, tt: TaskType, ctx: TaskContext, payload: Any, timeout: float | None, isolation: str
    ) -> Any:
        """The middleware chain around :meth:`_call`. What a middleware raises is the
        task's failure: an exception that is not an ``Exception`` (``SystemExit``, say)
        becomes a ``MiddlewareError`` rather than reaching the worker's loop."""

        async def handler() -> Any:
            return await self._call(tt, ctx, payload, timeout, isolation)

        call: CallNext = handler
        for mw in reversed(self.middleware):
            call = _link(mw, ctx, payload, call)
        try:
            return await call()
        except (Exception, asyncio.CancelledError, KeyboardInterrupt):
            raise
        except BaseException as exc:
            raise MiddlewareError(f"{type(exc).__name__}: {exc}") from exc

    async def _call(
        self,
        tt: TaskType,
        ctx: TaskContext,
        payload: Any,
        timeout: float | None,
        isolation: str = "thread",
    ) -> Any:
        """Run the handler alone (no middleware)."""
        if tt.is_async:
            if not timeout:
                return await tt.handler(ctx, payload)
            # A lazily armed timer (cheaper than asyncio.timeout on the hot path).
            task = asyncio.current_task()
            assert task is not None
            expired = False

            def expire() -> None:
                nonlocal expired
                expired = True
                ctx.cancel()
                task.cancel()

            timers = self._timers
            timers.start(asyncio.get_running_loop(), task, timeout, expire)
            try:
                return await tt.handler(ctx, payload)
            except asyncio.CancelledError:
                if expired and task.uncancel() == 0:
                    raise TaskTimeout(f"timed out after {timeout:g}s") from None
                raise
            finally:
                timers.cancel(task)
        if isolation == "process":
            return await run_isolated(tt, ctx, payload, timeout)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        pool = self._pool
        run = contextvars.copy_context().run if self.carry_context else None
        pool.submit(self._job, pool, loop, future, run, tt.handler, ctx, payload)
        if not timeout:
            return await future
        # The timer ends the wait by giving the future a marker result (cheaper than
        # asyncio.wait); the handler's own outcome, when it comes, finds it done.
        timers = self._timers
        timers.start(loop, future, timeout, _time_out, future)
        try:
            result = await future
        except asyncio.CancelledError:  # cancel asked, or shutdown: the thread goes on alone
            ctx.cancel()
            self._abandon(future, ctx)
            raise
        finally:
            timers.cancel(future)
        if result is not _TIMED_OUT:
            return result
        ctx.cancel()
        self._abandon(future, ctx)
        raise TaskTimeout(f"timed out after {timeout:g}s (thread abandoned, ctx.cancelled set)")

    def _job(
        self,
        pool: HandlerThreads,
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[Any],
        run: Callable[..., Any] | None,
        handler: Callable[..., Any],
        ctx: TaskContext,
        payload: Any,
    ) -> None:
        """In a pool thread: run the handler and hand its outcome to the loop. The loop is
        woken once per batch of outcomes (not once per task): a thread that finds a
        wake-up already on its way only appends."""
        if future.cancelled():  # cancelled before it started (shutdown, say): not run
            self._finished.append((pool, future, None, None))
        else:
            try:
                result = run(handler, ctx, payload) if run is not None else handler(ctx, payload)
            except BaseException as exc:
                self._finished.append((pool, future, None, exc))
            else:
                self._finished.append((pool, future, result, None))
        if not self._wake_armed:
            self._wake_armed = True
            # a closed loop (RuntimeError): nobody waits for the outcome
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._settle)

    def _settle(self) -> None:
        """On the loop: resolve every future whose handler has finished."""
        self._wake_armed = False  # before draining: an outcome added after it wakes again
        finished = self._finished
        while finished:
            pool, future, result, exc = finished.popleft()
            pool.done()
            if future.done():  # timed out or cancelled: the task was already dealt with
                self._ended_late(future, exc)
                continue
            if exc is None:
                future.set_result(result)
                continue
            try:
                future.set_exception(exc)
            except TypeError:  # StopIteration cannot be a future's exception
                future.set_exception(RuntimeError(f"{type(exc).__name__}: {exc}"))

    def _abandon(self, future: asyncio.Future[Any], ctx: TaskContext) -> None:
        """Leave a handler's thread to end on its own. What it returns or raises late (the
        ``TaskTimeout`` of ``ctx.raise_if_cancelled()``, as a rule) is logged at debug
        level by :meth:`_ended_late`: the task was already dealt with."""
        self._abandoned += 1
        self._late[future] = (ctx, self._generation)
        if self._abandoned >= max(1, self.threads // 2):
            # Too many threads stuck in handlers that ignore ``ctx.cancelled``: start a
            # fresh pool so new tasks are not starved; the old threads end on their own.
            log.warning(
                "%d abandoned handler threads; starting a fresh thread pool", self._abandoned
            )
            self._pool.shutdown()
            self._pool = self._new_pool()
            self._abandoned = 0
            self._generation += 1  # the old pool's late endings no longer count

    def _ended_late(self, future: asyncio.Future[Any], exc: BaseException | None) -> None:
        """An abandoned handler's thread ended: its slot counts again; its error is logged."""
        late = self._late.pop(future, None)
        if late is None:  # not abandoned: cancelled with its worker
            return
        ctx, generation = late
        if generation == self._generation:
            self._abandoned -= 1
        if exc is not None:
            log.debug(
                "task %s: its abandoned handler ended late with %s: %s",
                ctx.task_id,
                type(exc).__name__,
                exc,
            )

    def close(self) -> None:
        self._pool.shutdown(cancel_pending=True)

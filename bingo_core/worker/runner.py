"""Run one handler: async on the loop, sync in a thread, or isolated in a process.

Timeouts: an async handler is cancelled; a sync handler's context is flagged ``cancelled``
and its thread abandoned (the slot is freed at once); a process-isolated handler is killed.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from ..context import TaskContext
from ..errors import TaskTimeout
from ..registry import TaskType

log = logging.getLogger("bingo.worker")


class HandlerRunner:
    """Runs handlers for one worker; owns its thread pool."""

    def __init__(self, threads: int) -> None:
        self.threads = max(1, threads)
        self._pool = self._new_pool()
        self._abandoned = 0

    def _new_pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(self.threads, thread_name_prefix="bingo-task")

    async def run(
        self,
        tt: TaskType,
        ctx: TaskContext,
        payload: Any,
        timeout: float | None,
        isolation: str = "thread",
    ) -> Any:
        """Run the handler and return its result; raise :class:`TaskTimeout` when
        ``timeout`` passes."""
        if tt.is_async:
            if not timeout:
                return await tt.handler(ctx, payload)
            # One timer handle per task (cheaper than asyncio.timeout on the hot path).
            task = asyncio.current_task()
            assert task is not None
            expired = False

            def expire() -> None:
                nonlocal expired
                expired = True
                ctx.cancel()
                task.cancel()

            timer = asyncio.get_running_loop().call_later(timeout, expire)
            try:
                return await tt.handler(ctx, payload)
            except asyncio.CancelledError:
                if expired and task.uncancel() == 0:
                    raise TaskTimeout(f"timed out after {timeout:g}s") from None
                raise
            finally:
                timer.cancel()
        if isolation == "process":
            from .isolation import run_isolated

            return await run_isolated(tt, ctx, payload, timeout)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, tt.handler, ctx, payload)
        if not timeout:
            return await future
        done, _ = await asyncio.wait({future}, timeout=timeout)
        if done:
            return future.result()
        ctx.cancel()
        self._abandon(future)
        raise TaskTimeout(f"timed out after {timeout:g}s (thread abandoned, ctx.cancelled set)")

    def _abandon(self, future: asyncio.Future[Any] | Future[Any]) -> None:
        self._abandoned += 1

        def finished(_: Any) -> None:
            self._abandoned -= 1

        future.add_done_callback(finished)
        if self._abandoned >= max(1, self.threads // 2):
            # Too many threads stuck in handlers that ignore ``ctx.cancelled``: start a
            # fresh pool so new tasks are not starved; the old threads end on their own.
            log.warning(
                "%d abandoned handler threads; starting a fresh thread pool", self._abandoned
            )
            self._pool.shutdown(wait=False)
            self._pool = self._new_pool()
            self._abandoned = 0

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

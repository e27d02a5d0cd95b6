"""The sync handlers' threads and the handlers' lazily armed timeouts."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from bingo_core.context import TaskContext
from bingo_core.errors import TaskTimeout
from bingo_core.registry import TaskType
from bingo_core.worker.runner import HandlerRunner
from bingo_core.worker.threads import SWEEP, HandlerThreads


def task_type(handler: Any, is_async: bool) -> TaskType:
    return TaskType("t:x", handler, None, {}, "test", is_async)


def ctx(n: int = 0) -> TaskContext:
    return TaskContext(f"id{n}", "t:x", "default", 0, 0)


def test_threads_start_as_needed_up_to_the_size_and_run_jobs_in_order() -> None:
    threads = HandlerThreads(3, "bingo-task")
    ran: list[tuple[int, str]] = []
    gate = threading.Event()
    done = threading.Semaphore(0)

    def job(n: int) -> None:
        gate.wait(5)
        ran.append((n, threading.current_thread().name))
        done.release()

    threads.submit(job, 0)
    assert len(threads._threads) == 1
    for n in range(1, 10):
        threads.submit(job, n)
    assert [t.name for t in threads._threads] == ["bingo-task_0", "bingo-task_1", "bingo-task_2"]
    gate.set()
    for _ in range(10):
        assert done.acquire(timeout=5)
    assert sorted(n for n, _ in ran) == list(range(10))
    assert {name for _, name in ran} <= {"bingo-task_0", "bingo-task_1", "bingo-task_2"}
    threads.shutdown()
    for t in threads._threads:
        t.join(5)
        assert not t.is_alive()
    with pytest.raises(RuntimeError, match="closed"):
        threads.submit(job, 99)


def test_shutdown_with_cancel_pending_drops_jobs_not_started() -> None:
    threads = HandlerThreads(1, "bingo-task")
    gate = threading.Event()
    ran: list[int] = []

    def job(n: int) -> None:
        gate.wait(5)
        ran.append(n)

    for n in range(5):
        threads.submit(job, n)
    time.sleep(0.05)  # the first job has started
    threads.shutdown(cancel_pending=True)
    gate.set()
    threads._threads[0].join(5)
    assert ran == [0]


@pytest.mark.parametrize("is_async", [True, False])
def test_quick_tasks_with_a_long_timeout_arm_no_timer_each(is_async: bool) -> None:
    async def quick_async(ctx: Any, payload: Any) -> int:
        return 1

    def quick_sync(ctx: Any, payload: Any) -> int:
        return 1

    tt = task_type(quick_async if is_async else quick_sync, is_async)
    runner = HandlerRunner(10)
    timers = 0

    async def main() -> list[Any]:
        nonlocal timers
        loop = asyncio.get_running_loop()
        call_at = loop.call_at

        def counting(*args: Any, **kwargs: Any) -> Any:
            nonlocal timers
            timers += 1
            return call_at(*args, **kwargs)

        loop.call_at = counting  # type: ignore[method-assign]
        out = []
        for start in range(0, 200, 10):
            out += await asyncio.gather(
                *(runner.run(tt, ctx(n), None, 1800.0) for n in range(start, start + 10))
            )
        return out

    try:
        assert asyncio.run(main()) == [1] * 200
    finally:
        runner.close()
    assert timers <= 2  # the sweep's own timer, not one per task


@pytest.mark.parametrize("is_async", [True, False])
@pytest.mark.parametrize("timeout", [SWEEP / 2, SWEEP + 0.4])
def test_a_timeout_fires_at_its_time_shorter_or_longer_than_the_sweep(
    is_async: bool, timeout: float
) -> None:
    async def slow_async(ctx: Any, payload: Any) -> None:
        await asyncio.sleep(10)

    def slow_sync(ctx: Any, payload: Any) -> None:
        for _ in range(1000):
            if ctx.cancelled:
                return
            time.sleep(0.01)

    tt = task_type(slow_async if is_async else slow_sync, is_async)
    runner = HandlerRunner(2)

    async def main() -> float:
        began = time.monotonic()
        with pytest.raises(TaskTimeout):
            await runner.run(tt, ctx(), None, timeout)
        return time.monotonic() - began

    try:
        took = asyncio.run(main())
    finally:
        runner.close()
    assert timeout - 0.01 <= took < timeout + 0.3

"""Cancelling an active task (asked from the dashboard or the inspector) on a real worker:
an async handler is cancelled, a sync one sees ``ctx.cancelled``, and the task is archived
with the reason; the other tasks go on."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from pydantic import BaseModel

import bingo_core as bingo
from bingo_core.app import App
from bingo_core.config import load_settings
from bingo_core.worker import Worker

SEEN: list[str] = []
STOPPED = threading.Event()


class Wait(BaseModel):
    seconds: float = 30


async def long_async(ctx: bingo.TaskContext, payload: Wait) -> None:
    try:
        await asyncio.sleep(payload.seconds)
    except asyncio.CancelledError:
        SEEN.append("async cancelled")
        raise


def long_sync(ctx: bingo.TaskContext, payload: Wait) -> None:
    deadline = time.monotonic() + payload.seconds
    while time.monotonic() < deadline:
        if ctx.cancelled:
            SEEN.append("sync saw cancelled")
            STOPPED.set()
            return
        time.sleep(0.01)


async def quick(ctx: bingo.TaskContext, payload: Wait) -> None:
    SEEN.append("quick ran")


GATES: list[asyncio.Event] = []


async def fails_when_let(ctx: bingo.TaskContext, payload: Wait) -> None:
    SEEN.append("attempt")
    await GATES[-1].wait()
    raise RuntimeError("failed on its own")


class Plugin:
    @bingo.hookimpl
    def bingo_register_tasks(self, register: Any) -> None:
        register("c:async", long_async, payload=Wait)
        register("c:sync", long_sync, payload=Wait)
        register("c:quick", quick, payload=Wait)
        register("c:fails", fails_when_let, payload=Wait, retry_backoff=0, max_retry=5)


@pytest.mark.parametrize("task_type", ["c:async", "c:sync"])
def test_a_cancelled_active_task_stops_and_is_archived(redis_url: str, task_type: str) -> None:
    SEEN.clear()
    STOPPED.clear()
    settings = load_settings(
        None, env={}, overrides={"redis.url": redis_url, "worker.lease": "0.6s"}
    )
    app = App(settings, plugins=[Plugin()], entry_points=False)

    async def main() -> None:
        worker = Worker(app)
        stop = asyncio.Event()
        runner = asyncio.create_task(worker.run(stop))
        info = await asyncio.to_thread(app.client.enqueue, task_type, {"seconds": 30})
        deadline = time.monotonic() + 10
        while info.id not in worker.active or worker.active[info.id].ctx.started_at is None:
            assert time.monotonic() < deadline, "the task never started"
            await asyncio.sleep(0.01)
        await asyncio.to_thread(app.inspector.cancel, info.id)
        while info.id in worker.active:
            assert time.monotonic() < deadline, "the cancelled task is still running"
            await asyncio.sleep(0.01)
        await asyncio.to_thread(app.client.enqueue, "c:quick", {})
        while "quick ran" not in SEEN:
            assert time.monotonic() < deadline, "the worker stopped taking tasks"
            await asyncio.sleep(0.01)
        done = await asyncio.to_thread(app.inspector.find, info.id)
        assert done.state == "archived"
        assert done.error == "cancelled by Python (Inspector.cancel) while it ran"
        assert await asyncio.to_thread(app.inspector.cancel_requested, "default", [info.id]) == {}
        stop.set()
        await runner
        await app.aclose()

    asyncio.run(main())
    expected = "async cancelled" if task_type == "c:async" else "sync saw cancelled"
    if task_type == "c:sync":
        assert STOPPED.wait(5)
    assert expected in SEEN


def test_a_cancel_asked_before_a_failing_attempt_ends_is_not_retried(redis_url: str) -> None:
    SEEN.clear()
    # A long lease: the heartbeat does not see the request before the attempt fails.
    settings = load_settings(
        None, env={}, overrides={"redis.url": redis_url, "worker.lease": "60s"}
    )
    app = App(settings, plugins=[Plugin()], entry_points=False)

    async def main() -> None:
        GATES.append(asyncio.Event())
        worker = Worker(app)
        stop = asyncio.Event()
        runner = asyncio.create_task(worker.run(stop))
        info = await asyncio.to_thread(app.client.enqueue, "c:fails", {})
        deadline = time.monotonic() + 10
        while info.id not in worker.active or worker.active[info.id].ctx.started_at is None:
            assert time.monotonic() < deadline, "the task never started"
            await asyncio.sleep(0.01)
        asked = await asyncio.to_thread(app.inspector.cancel, info.id)
        assert asked.state == "active"
        GATES[-1].set()
        while info.id in worker.active:
            assert time.monotonic() < deadline, "the task is still running"
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # a retry (backoff 0) would have started by now
        done = await asyncio.to_thread(app.inspector.find, info.id)
        assert done.state == "archived" and done.retried == 0
        assert done.error == (
            "cancelled by Python (Inspector.cancel) while it ran "
            "(the attempt failed: RuntimeError: failed on its own)"
        )
        assert SEEN == ["attempt"]
        assert await asyncio.to_thread(app.inspector.cancel_requested, "default", [info.id]) == {}
        stop.set()
        await runner
        await app.aclose()

    asyncio.run(main())

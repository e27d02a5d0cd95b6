"""Putting Redis in the states the pages show: tasks in every state, a published
schedule, a worker heartbeat."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from bingo_core.app import App


def run_async(make: Any) -> Any:
    """``asyncio.run(make())`` in a thread of its own (Playwright's sync API keeps a loop
    running in the test's thread)."""
    import threading

    out: list[Any] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            out.append(asyncio.run(make()))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return out[0]


def seed(app: App) -> dict[str, list[str]]:
    """Tasks of the demo types in every state; their ids by state."""
    client = app.client
    ids: dict[str, list[str]] = {}
    ids["pending"] = [client.enqueue("demo:greet", {"name": f"p{i}"}).id for i in range(3)]
    ids["scheduled"] = [
        client.enqueue("demo:greet", {"name": f"s{i}"}, process_in=600).id for i in range(2)
    ]
    moved = [client.enqueue("demo:greet", {"name": f"a{i}"}, process_in=600).id for i in range(2)]
    for task_id in moved:
        app.inspector.act("archive", task_id)
    ids["archived"] = moved
    return ids


def lease(app: App, queue: str = "default", n: int = 1) -> list[str]:
    """Lease ``n`` pending tasks as a (pretend) worker would: they become active."""

    async def run() -> list[str]:
        broker = app.async_broker()
        try:
            _, out = await broker.fetch(queue, n, time.time() + 60, "pretend:1:w")
            return [x.decode() if isinstance(x, bytes) else str(x) for x in out[0::3]]
        finally:
            await broker.close()
            app._async_broker = None

    return run_async(run)


def heartbeat(
    app: App, server_id: str = "host-a:4242:abc", ttl: float = 60.0, **extra: Any
) -> None:
    """A worker's heartbeat record, as the worker writes it."""
    record = {
        "id": server_id,
        "host": server_id.split(":")[0],
        "pid": int(server_id.split(":")[1]),
        "queues": {"default": 1},
        "concurrency": 8,
        "started_at": time.time() - 100,
        "processed": 5,
        "failed": 1,
        "active": [],
        "active_count": 0,
        "at": time.time(),
        **extra,
    }

    async def run() -> None:
        broker = app.async_broker()
        try:
            await broker.heartbeat(server_id, json.dumps(record), ttl)
        finally:
            await broker.close()
            app._async_broker = None

    run_async(run)


def publish_entries(
    app: App, entries: list[dict[str, Any]], history: dict[str, Any] | None = None
) -> None:
    """Publish schedule entries (and a history item each) as a leader does."""
    from bingo_core.broker.schedstate import Published, Record, SchedState

    async def run() -> None:
        broker = app.async_broker()
        try:
            state = SchedState(broker, "leader-host:77:aa")
            ok, token = await state.acquire(30)
            assert ok
            await state.publish(token, [Published(e["key"], e["info"], "fp") for e in entries], [])
            records = []
            for e in entries:
                item = (history or {}).get(e["key"])
                if item is not None:
                    records.append(
                        Record(
                            e["key"],
                            cursor=item["tick"],
                            next=item["tick"] + 300,
                            last_tick=item["tick"],
                            last_task=item["task_id"],
                            last_at=item["enqueued_at"],
                            history=item,
                        )
                    )
            if records:
                await state.record(token, records, 100)
        finally:
            await broker.close()
            app._async_broker = None

    run_async(run)


def asyncio_run_sampler(app: App) -> None:
    """One round of the daemon's sampler."""
    from bingo_core.dashboard.sampler import Sampler

    async def run() -> None:
        broker = app.async_broker()
        try:
            await Sampler(broker).sample_once()
        finally:
            await broker.close()
            app._async_broker = None

    run_async(run)

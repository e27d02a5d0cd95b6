"""Putting Redis in the states the pages show: tasks in every state, a published
schedule, a worker heartbeat."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import bingo_core as bingo
from bingo_core.app import App
from bingo_core.workflows_view import cancel_workflow


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
            fetched = await broker.fetch(queue, n, time.time() + 60, "pretend:1:w")
            return [t.id for t in fetched.leased]
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


def remove_server(app: App, server_id: str) -> None:
    """A worker's goodbye: its heartbeat is withdrawn (a kept copy shows it stopped)."""

    async def run() -> None:
        broker = app.async_broker()
        try:
            await broker.remove_server(server_id)
        finally:
            await broker.close()
            app._async_broker = None

    run_async(run)


def publish_entries(
    app: App, entries: list[dict[str, Any]], history: dict[str, Any] | None = None
) -> None:
    """Publish schedule entries (and a history item each) as a leader does."""
    from bingo_core.broker.schedstate import Published, Record, SchedState
    from bingo_core.records import EntryInfo, HistoryItem

    async def run() -> None:
        broker = app.async_broker()
        try:
            state = SchedState(broker, "leader-host:77:aa")
            ok, token = await state.acquire(30)
            assert ok
            await state.publish(
                token, [Published(e["key"], EntryInfo(**e["info"]), "fp") for e in entries], []
            )
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
                            history=HistoryItem(**item),
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


def finish(
    app: App,
    queue: str,
    ids: list[str],
    how: str,
    *,
    retry_at: float | None = None,
    error: str = "ValueError: boom",
) -> None:
    """Lease the pending tasks ``ids`` of ``queue`` as a worker would, then end their
    attempt: ``how`` is ``retry`` (the next attempt at ``retry_at``), ``archive`` or
    ``complete`` (kept for an hour, with a result)."""
    worker = "pretend:1:w"

    async def run() -> None:
        broker = app.async_broker()
        try:
            fetched = await broker.fetch(queue, len(ids) + 1000, time.time() + 60, worker)
            leased = [t.id for t in fetched.leased]
            assert set(ids) <= set(leased), (ids, leased)
            back = [i for i in leased if i not in ids]
            if back:
                await broker.requeue(queue, back, worker)
            for task_id in ids:
                if how == "retry":
                    at = retry_at or time.time() + 600
                    assert await broker.retry(queue, task_id, worker, at, error)
                elif how == "archive":
                    assert await broker.archive(queue, task_id, worker, error, 1000, 86400.0)
                else:
                    await broker.ack(queue, [(task_id, 3600.0, "", '{"ok":true}')], worker)
        finally:
            await broker.close()
            app._async_broker = None

    run_async(run)


#: The error the seeded workflow's failing step ends with.
STEP_ERROR = "RuntimeError: the ledger <b>refused</b> batch 7 " + "and said more " * 30


def seed_workflows(app: App, queue: str = "flows") -> dict[str, Any]:
    """Workflows of ``queue`` in each state: ``running`` (a chain with a group, its first
    step completed with a long result, a group member active with progress), ``failed`` (its
    first step archived with :data:`STEP_ERROR`, its on_failure step pending),
    ``completed`` and ``cancelled``; their infos by state."""

    def step(name: str) -> Any:
        return bingo.step("demo:greet", {"name": name}, queue=queue)

    client = app.client
    running = client.enqueue_workflow(
        bingo.chain(
            step("fetch"),
            bingo.group(step("left"), bingo.chain(step("right-1"), step("right-2"))),
            step("report"),
        ),
        on_failure=step("cleanup"),
    )
    failed = client.enqueue_workflow(bingo.chain(step("x"), step("y")), on_failure=step("undo"))
    completed = client.enqueue_workflow(step("only"))
    cancelled = client.enqueue_workflow(bingo.chain(step("c1"), step("c2")))
    cancel_workflow(app.broker, [queue], cancelled.id)
    worker = "pretend:1:w"

    async def run() -> None:
        broker = app.async_broker()
        try:
            first = [running.task_ids[0], failed.task_ids[0], completed.task_ids[0]]
            fetched = await broker.fetch(queue, 3, time.time() + 600, worker)
            assert [t.id for t in fetched.leased] == first
            result = json.dumps({"rows": 1234, "note": "a long <i>result</i> " * 20})
            done = [(running.task_ids[0], 3600.0, "", result), (first[2], 3600.0, "", '"ok"')]
            await broker.ack(queue, done, worker)
            await broker.archive(queue, first[1], worker, STEP_ERROR, 10_000, 86_400)
            fetched = await broker.fetch(queue, 1, time.time() + 600, worker)
            (member,) = [t.id for t in fetched.leased]
            assert member in running.task_ids[1:3]
            progress = json.dumps({"done": 3, "total": 10, "note": "pages", "at": time.time()})
            assert await broker.set_progress(queue, member, worker, progress)
        finally:
            await broker.close()
            app._async_broker = None

    run_async(run)
    return {
        "running": running,
        "failed": failed,
        "completed": completed,
        "cancelled": cancelled,
    }


def steady_box(locator: Any) -> Any:
    """The element's box; asked again when a refresh replaced the element as it was
    measured (the rows are rebuilt every second: the box of a detached one is None);
    fails when it stays None."""
    for _ in range(20):
        box = locator.bounding_box()
        if box is not None:
            return box
        time.sleep(0.05)
    raise AssertionError(f"{locator} has no box (not shown) for a second")

"""The worker on a real Redis, in this process: handlers, retries, timeouts, shutdown,
malformed messages, leases and idempotency."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from typing import Any

import pytest
from pydantic import BaseModel

import bingo_core as bingo
from bingo_core import Client
from bingo_core.app import App
from bingo_core.broker import scripts
from bingo_core.registry import TaskRegister
from bingo_core.testing import drain
from bingo_core.worker import Worker

EVENTS: list[tuple[str, Any]] = []


class Item(BaseModel):
    n: int
    name: str = "x"


async def ok(ctx: bingo.TaskContext, payload: Item) -> None:
    EVENTS.append(("ok", payload.n))


def sync_ok(ctx: bingo.TaskContext, payload: Item) -> None:
    EVENTS.append(("sync", (payload.n, threading.current_thread().name)))


async def flaky(ctx: bingo.TaskContext, payload: Item) -> None:
    EVENTS.append(("flaky", ctx.retry_count))
    raise RuntimeError(f"boom {ctx.retry_count}")


async def skip(ctx: bingo.TaskContext, payload: Item) -> None:
    EVENTS.append(("skip", payload.n))
    raise bingo.SkipRetry("not worth it")


async def slow(ctx: bingo.TaskContext, payload: Item) -> None:
    try:
        await asyncio.sleep(payload.n)
    except asyncio.CancelledError:
        EVENTS.append(("cancelled", ctx.task_id))
        raise
    EVENTS.append(("slow-done", payload.n))


def sync_slow(ctx: bingo.TaskContext, payload: Item) -> None:
    deadline = time.monotonic() + payload.n
    while time.monotonic() < deadline:
        if ctx.cancelled:
            EVENTS.append(("sync-cancelled", ctx.task_id))
            return
        time.sleep(0.01)
    EVENTS.append(("sync-slow-done", payload.n))


async def once(ctx: bingo.TaskContext, payload: Item) -> None:
    EVENTS.append(("once", ctx.task_id))


class Plugin:
    @bingo.hookimpl
    def bingo_register_tasks(self, register: TaskRegister) -> None:
        register("t:ok", ok, payload=Item)
        register("t:sync", sync_ok, payload=Item)
        register("t:flaky", flaky, payload=Item, max_retry=2, retry_backoff=0)
        register("t:skip", skip, payload=Item)
        register("t:slow", slow, payload=Item, timeout=0.3, max_retry=0)
        register("t:sync-slow", sync_slow, payload=Item, timeout=0.3, max_retry=0)
        register("t:once", once, payload=Item, idempotent=True)


@pytest.fixture(autouse=True)
def _clear() -> None:
    EVENTS.clear()


@pytest.fixture
def setup(bingo_settings: Any) -> Any:
    from bingo_core.plugins import PluginManager

    manager = PluginManager()
    manager.add(Plugin(), "testplugin")
    registry = manager.collect()
    client = Client(bingo_settings, registry=registry)
    yield bingo_settings, registry, manager, client
    client.close()


def test_async_and_sync_handlers_run(setup: Any, redis_client: Any) -> None:
    settings, registry, manager, client = setup
    for i in range(20):
        client.enqueue("t:ok", {"n": i})
    client.enqueue("t:sync", {"n": 99})
    asyncio.run(drain(settings, registry, manager))
    assert sorted(n for kind, n in EVENTS if kind == "ok") == list(range(20))
    sync = [v for kind, v in EVENTS if kind == "sync"]
    assert sync and sync[0][1].startswith("bingo-task")
    assert redis_client.get("bingo:{default}:processed") == "21"
    assert redis_client.keys("bingo:{default}:t:*") == []  # no retention: deleted


def test_retry_then_archive_with_last_error(setup: Any, redis_client: Any) -> None:
    settings, registry, manager, client = setup
    info = client.enqueue("t:flaky", {"n": 1})
    asyncio.run(drain(settings, registry, manager))
    assert [v for kind, v in EVENTS if kind == "flaky"] == [0, 1, 2]
    task = client.broker.reader.get_task("default", info.id)
    assert task.state == "archived" and task.retried == 2
    assert "RuntimeError: boom 2" in task.error and "retries exhausted" in task.error
    assert redis_client.zscore("bingo:{default}:archived", info.id) is not None


def test_skip_retry_archives_at_once(setup: Any) -> None:
    settings, registry, manager, client = setup
    info = client.enqueue("t:skip", {"n": 1})
    asyncio.run(drain(settings, registry, manager))
    assert EVENTS == [("skip", 1)]
    task = client.broker.reader.get_task("default", info.id)
    assert task.state == "archived" and "not worth it" in task.error and task.retried == 0


def test_async_timeout_cancels(setup: Any) -> None:
    settings, registry, manager, client = setup
    info = client.enqueue("t:slow", {"n": 5})
    started = time.monotonic()
    asyncio.run(drain(settings, registry, manager))
    assert time.monotonic() - started < 3
    assert EVENTS == [("cancelled", info.id)]
    task = client.broker.reader.get_task("default", info.id)
    assert task.state == "archived" and "timed out after 0.3s" in task.error


def test_sync_timeout_sets_cancelled_and_frees_slot(setup: Any) -> None:
    settings, registry, manager, client = setup
    info = client.enqueue("t:sync-slow", {"n": 5})
    asyncio.run(drain(settings, registry, manager))
    time.sleep(0.1)  # the abandoned thread sees ctx.cancelled and returns
    assert ("sync-cancelled", info.id) in EVENTS
    task = client.broker.reader.get_task("default", info.id)
    assert task.state == "archived" and "timed out" in task.error


def test_malformed_message_is_archived_and_worker_goes_on(setup: Any, redis_client: Any) -> None:
    settings, registry, manager, client = setup
    redis_client.hset("bingo:{default}:t:bad1", mapping={"msg": "{not json", "state": "pending"})
    redis_client.hset(
        "bingo:{default}:t:bad2", mapping={"msg": '{"id": "bad2"}', "state": "pending"}
    )
    redis_client.lpush("bingo:{default}:pending", "bad1", "bad2")
    client.enqueue("t:ok", {"n": 7})
    asyncio.run(drain(settings, registry, manager))
    assert EVENTS == [("ok", 7)]
    bad1 = client.broker.reader.get_task("default", "bad1")
    bad2 = client.broker.reader.get_task("default", "bad2")
    assert bad1.state == bad2.state == "archived"
    assert "not valid JSON" in bad1.error and "lacks field" in bad2.error


def test_payload_failing_model_in_redis_is_archived_not_retried(
    setup: Any, redis_client: Any
) -> None:
    settings, registry, manager, client = setup
    msg = '{"id":"p1","type":"t:ok","queue":"default","payload":{"n":"NaN?"},"max_retry":5}'
    redis_client.hset("bingo:{default}:t:p1", mapping={"msg": msg, "state": "pending"})
    redis_client.lpush("bingo:{default}:pending", "p1")
    asyncio.run(drain(settings, registry, manager))
    task = client.broker.reader.get_task("default", "p1")
    assert task.state == "archived" and task.retried == 0 and "n:" in task.error


def test_idempotent_task_runs_once_when_redelivered(setup: Any, redis_client: Any) -> None:
    settings, registry, manager, client = setup
    info = client.enqueue("t:once", {"n": 1})
    asyncio.run(drain(settings, registry, manager))
    assert EVENTS == [("once", info.id)]
    assert redis_client.exists(f"bingo:{{default}}:done:{info.id}")
    # Re-deliver the same task (as after a crash between success and ack).
    msg = redis_client.hget(f"bingo:{{default}}:t:{info.id}", "msg")
    assert msg is None  # acked and deleted; put the same message back by hand
    client.enqueue("t:once", {"n": 1}, task_id=info.id)
    # The built-in idempotency hook is bound to the app that first used this manager
    # (closed by now): let the next app bind its own.
    manager.pm.unregister(name="bingo.idempotency")
    asyncio.run(drain(settings, registry, manager))
    assert EVENTS == [("once", info.id)]


def test_expired_lease_is_recovered(setup: Any, redis_client: Any) -> None:
    """A task leased by a worker that died comes back and runs within about one lease."""
    settings, registry, manager, client = setup
    from bingo_core.broker import AsyncBroker

    info = client.enqueue("t:ok", {"n": 3})

    async def lease_and_die() -> None:
        broker = AsyncBroker(settings.redis)
        fetched = await broker.fetch("default", 1, time.time() + 0.5, "dead-worker")
        assert [t.id for t in fetched.leased] == [info.id]
        await broker.close()

    asyncio.run(lease_and_die())
    assert client.broker.reader.get_task("default", info.id).state == "active"
    started = time.monotonic()
    asyncio.run(drain(settings, registry, manager, timeout=5))
    assert EVENTS == [("ok", 3)]
    assert time.monotonic() - started < 3


def test_idle_worker_picks_up_within_milliseconds(setup: Any) -> None:
    settings, registry, manager, client = setup

    async def main() -> list[float]:
        stop = asyncio.Event()
        app = App(settings, registry=registry, manager=manager)
        worker = Worker(app)
        runner = asyncio.create_task(worker.run(stop))
        await asyncio.sleep(0.3)  # idle, blocked on the wake-up list
        delays = []
        for i in range(10):
            EVENTS.clear()
            t0 = time.perf_counter()
            await asyncio.to_thread(client.enqueue, "t:ok", {"n": i})
            while not EVENTS:
                await asyncio.sleep(0.0005)
            delays.append(time.perf_counter() - t0)
            await asyncio.sleep(0.05)
        stop.set()
        await runner
        await app.aclose()
        return delays

    delays = sorted(asyncio.run(main()))
    assert delays[len(delays) // 2] < 0.1, delays  # far below any polling interval


def test_idle_pick_up_is_one_fetch_with_no_script_load(setup: Any, redis_client: Any) -> None:
    """An idle worker woken by an enqueue runs one fetch (not a second one that finds the
    queue empty), and loaded its scripts at start: no task's path loads one."""
    settings, registry, manager, client = setup
    tasks = 5
    redis_client.script_flush()
    seen: list[str] = []
    fetch = hashlib.sha1(scripts.SOURCES["fetch"].encode()).hexdigest()

    def watch(ready: threading.Event) -> None:
        with redis_client.monitor() as m:
            ready.set()
            while not (command := str(m.next_command()["command"])).endswith("stop-watching"):
                seen.append(command)

    async def main() -> None:
        stop = asyncio.Event()
        app = App(settings, registry=registry, manager=manager)
        runner = asyncio.create_task(Worker(app).run(stop))
        await asyncio.sleep(0.3)  # idle, blocked on the wake-up list
        ready = threading.Event()
        watcher = threading.Thread(target=watch, args=(ready,))
        watcher.start()
        ready.wait(5)
        for i in range(tasks):
            EVENTS.clear()
            await asyncio.to_thread(client.enqueue, "t:ok", {"n": i})
            while not EVENTS:
                await asyncio.sleep(0.001)
            await asyncio.sleep(0.03)
        redis_client.echo("stop-watching")
        await asyncio.to_thread(watcher.join, 5)
        stop.set()
        await runner
        await app.aclose()

    asyncio.run(main())
    fetches = [c for c in seen if c.startswith(f"EVALSHA {fetch}")]
    # At most one more: the idle BLPOP's 1 s timeout may fall in the window.
    assert tasks <= len(fetches) <= tasks + 1, fetches
    assert not [c for c in seen if c.upper().startswith("SCRIPT")], seen


def test_graceful_shutdown_requeues_unfinished_to_head(setup: Any, redis_client: Any) -> None:
    settings, registry, manager, client = setup
    settings.worker.shutdown_timeout = 0.2
    first = client.enqueue("t:slow", {"n": 10}, timeout=0)
    client.enqueue("t:ok", {"n": 1})

    async def main() -> None:
        stop = asyncio.Event()
        settings.worker.concurrency = 1
        app = App(settings, registry=registry, manager=manager)
        worker = Worker(app)
        runner = asyncio.create_task(worker.run(stop))
        while not worker.active:
            await asyncio.sleep(0.01)
        stop.set()
        await runner
        await app.aclose()

    asyncio.run(main())
    assert ("cancelled", first.id) in EVENTS
    pending = redis_client.lrange("bingo:{default}:pending", 0, -1)
    assert pending[-1] == first.id  # the head: RPOP takes it first
    assert client.broker.reader.get_task("default", first.id).state == "pending"
    assert redis_client.zcard("bingo:{default}:lease") == 0


def test_paused_queue_is_not_fetched(setup: Any, redis_client: Any) -> None:
    settings, registry, manager, client = setup
    from bingo_core.inspector import Inspector

    inspector = Inspector(client.broker)
    inspector.pause("default")
    client.enqueue("t:ok", {"n": 1})

    async def main() -> None:
        stop = asyncio.Event()
        app = App(settings, registry=registry, manager=manager)
        worker = Worker(app)
        runner = asyncio.create_task(worker.run(stop))
        await asyncio.sleep(0.3)
        assert EVENTS == []
        await asyncio.to_thread(inspector.resume, "default")
        for _ in range(200):
            if EVENTS:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await runner
        await app.aclose()

    asyncio.run(main())
    assert EVENTS == [("ok", 1)]

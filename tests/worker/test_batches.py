"""Batches with a real worker on a real Redis: a batch is cut at max_size (at the enqueue
that reaches it), after grace since the newest item, after max_wait since the oldest;
items are grouped by the key field's value; sync and async handlers get ``list[Model]``;
every enqueue path holds items (Client, AsyncClient, ``ctx.enqueue``, ``enqueue_many``);
bad options are refused in one line."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel
from worker_helpers import Running

import bingo_core as bingo
from bingo_core import AsyncClient, Client
from bingo_core.app import App
from bingo_core.building import Template
from bingo_core.errors import OptionError, PayloadError, RegistrationError
from bingo_core.plugins import PluginManager
from bingo_core.registry import Registry, TaskRegister
from bingo_core.testing import drain
from bingo_core.ticks import Tick

SEEN: list[tuple[str, str, list[int]]] = []
LOCK = threading.Lock()


class Item(BaseModel):
    shop: str
    n: int


def record_sync(ctx: bingo.TaskContext, items: list[Item]) -> int:
    assert all(isinstance(i, Item) for i in items)
    with LOCK:
        SEEN.append((ctx.task_id, items[0].shop, [i.n for i in items]))
    return len(items)


async def record_async(ctx: bingo.TaskContext, items: list[Item]) -> int:
    with LOCK:
        SEEN.append((ctx.task_id, "async", [i.n for i in items]))
    return len(items)


async def fan_out(ctx: bingo.TaskContext, payload: Item) -> None:
    for i in range(payload.n):
        ctx.enqueue("b:size", {"shop": "fan", "n": i})


def record_plain(ctx: bingo.TaskContext, item: Item) -> None:
    with LOCK:
        SEEN.append((ctx.task_id, "plain", [item.n]))


class Plugin:
    @bingo.hookimpl
    def bingo_register_tasks(self, register: TaskRegister) -> None:
        register(
            "b:size",
            record_sync,
            payload=Item,
            batch=bingo.Batch(key="shop", max_size=5, max_wait="1h", grace="1h"),
        )
        register(
            "b:grace",
            record_async,
            payload=Item,
            batch=bingo.Batch(max_size=1000, max_wait="1h", grace=0.3),
        )
        register(
            "b:wait",
            record_sync,
            payload=Item,
            batch=bingo.Batch(key="shop", max_size=1000, max_wait=0.6, grace=None),
        )
        register("b:fan", fan_out, payload=Item)
        register("b:plain", record_plain, payload=Item)


@pytest.fixture
def registry() -> tuple[Registry, PluginManager]:
    manager = PluginManager()
    manager.add(Plugin(), "batchplugin")
    return manager.collect(), manager


@pytest.fixture
def client(bingo_settings: Any, registry: tuple[Registry, PluginManager]) -> Iterator[Client]:
    SEEN.clear()
    c = Client(bingo_settings, registry=registry[0])
    yield c
    c.close()


@pytest.fixture
def worker(bingo_settings: Any, registry: tuple[Registry, PluginManager]) -> Iterator[Running]:
    app = App(bingo_settings, registry=registry[0], manager=registry[1])
    running = Running(app)
    yield running
    running.stop()
    app.close()


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"not met in {timeout} s; seen {SEEN}")


def test_max_size_cuts_at_enqueue_per_key(client: Client, worker: Running) -> None:
    for n in range(12):
        info = client.enqueue("b:size", {"shop": "a" if n % 2 else "b", "n": n})
        assert info.state == "held"
    wait_for(lambda: len(SEEN) == 2)
    got = sorted((shop, ns) for _, shop, ns in SEEN)
    assert got == [("a", [1, 3, 5, 7, 9]), ("b", [0, 2, 4, 6, 8])]
    time.sleep(0.3)
    assert len(SEEN) == 2  # one item of each shop still held (grace 1h)
    stats = client.app.inspector.batches(["default"])
    assert sorted((g.type, g.key, g.items) for g in stats) == [
        ("b:size", "a", 1),
        ("b:size", "b", 1),
    ]


def test_grace_cuts_after_the_newest(client: Client, worker: Running) -> None:
    start = time.time()
    for n in range(3):
        client.enqueue("b:grace", {"shop": "x", "n": n})
        time.sleep(0.1)
    wait_for(lambda: len(SEEN) == 1)
    took = time.time() - start
    assert SEEN[0][2] == [0, 1, 2]
    assert 0.5 <= took < 1.6, took  # 0.2 s of enqueues + grace 0.3 s (+ a fetch)


def test_max_wait_cuts_after_the_oldest(client: Client, worker: Running) -> None:
    start = time.time()
    items = 0
    while not SEEN and time.time() - start < 5:
        client.enqueue("b:wait", {"shop": "w", "n": items})  # never a pause of grace
        items += 1
        time.sleep(0.05)
    took = time.time() - start
    assert SEEN, "no batch"
    assert 0.55 <= took < 1.5, took
    wait_for(lambda: sum(len(ns) for _, _, ns in SEEN) == items)


def test_enqueue_paths(client: Client, worker: Running, bingo_settings: Any) -> None:
    client.enqueue_many([("b:size", {"shop": "m", "n": n}) for n in range(10)])
    client.enqueue("b:fan", {"shop": "f", "n": 5})

    async def from_async() -> None:
        ac = AsyncClient(bingo_settings, registry=client.registry)
        try:
            for n in range(5):
                await ac.enqueue("b:size", {"shop": "async", "n": n})
        finally:
            await ac.aclose()
            await ac.broker.close()

    asyncio.run(from_async())
    wait_for(lambda: len(SEEN) == 4)
    shops = sorted(shop for _, shop, _ in SEEN)
    assert shops == ["async", "fan", "m", "m"]


def test_refusals(client: Client) -> None:
    with pytest.raises(PayloadError, match="b:size"):
        client.enqueue("b:size", {"shop": "a"})
    with pytest.raises(OptionError, match="batched"):
        client.enqueue("b:size", {"shop": "a", "n": 1}, process_in="1m")
    with pytest.raises(OptionError, match="cannot be a workflow step"):
        client.enqueue_workflow(bingo.chain(bingo.step("b:size", {"shop": "a", "n": 1})))
    registry = Registry()
    register = TaskRegister(registry, "p1")
    cases = [
        (bingo.Batch(max_size=0), "max_size"),
        (bingo.Batch(max_wait="ten"), "not a duration"),
        (bingo.Batch(key="nope"), "names no field"),
        ("x", "bingo.Batch"),
    ]
    for batch, text in cases:
        with pytest.raises(RegistrationError, match=text) as err:
            register("t:x", record_sync, payload=Item, batch=batch)
        assert "plugin 'p1', task type 't:x'" in str(err.value)
        assert "\n" not in str(err.value)
    with pytest.raises(RegistrationError, match="payload model"):
        register("t:y", record_sync, batch=bingo.Batch())


def test_scheduler_ticks_hold_items_once(client: Client, bingo_settings: Any) -> None:
    tt = client.registry.get("b:size")
    tick = Tick(Template.build(tt), '{"shop":"tick","n":1}', "config|every", 1_800_000_000.0, 60)

    async def fire() -> list[Any]:
        ac = AsyncClient(bingo_settings, registry=client.registry)
        try:
            first = await ac.enqueue_ticks([tick])
            again = await ac.enqueue_ticks([tick])  # another daemon's, or a retake
            return [first[0], again[0]]
        finally:
            await ac.aclose()
            await ac.broker.close()

    first, again = asyncio.run(fire())
    assert first.enqueued and not first.duplicate
    assert again.duplicate and not again.enqueued and again.task_id == first.task_id
    held = client.app.inspector.batches(["default"])
    assert [(g.key, g.items) for g in held] == [("tick", 1)]


def test_a_group_key_of_the_wrong_type(client: Client, worker: Running) -> None:
    r = client.broker.redis
    group = "b:size\x1fbad"
    r.set(f"bingo:{{default}}:batch:i:{group}", "not Bingo's")
    r.zadd("bingo:{default}:batches", {group: 1.0})  # due long ago
    with pytest.raises(Exception, match=r"WRONGTYPE key bingo:\{default\}:batch:i:b:size"):
        client.enqueue("b:size", {"shop": "bad", "n": 1})
    client.enqueue("b:plain", {"shop": "x", "n": 7})  # the queue goes on
    wait_for(lambda: ("plain", [7]) in [(s, n) for _, s, n in SEEN])
    assert r.zcard("bingo:{default}:batches") == 0
    assert r.get(f"bingo:{{default}}:batch:i:{group}") == b"not Bingo's"


def test_drain_runs_the_batches_due_before_its_timeout(
    client: Client, bingo_settings: Any, registry: tuple[Registry, PluginManager]
) -> None:
    client.enqueue("b:size", {"shop": "later", "n": 1})  # grace 1h: left held
    client.enqueue("b:grace", {"shop": "soon", "n": 2})  # grace 0.3 s
    asyncio.run(drain(bingo_settings, registry[0], registry[1], timeout=5))
    assert [ns for _, shop, ns in SEEN] == [[2]]
    assert [(g.type, g.items) for g in client.app.inspector.batches(["default"])] == [("b:size", 1)]

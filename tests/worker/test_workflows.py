"""Workflows (``bingo.step``/``chain``/``group``, ``Client.enqueue_workflow``) with a real
worker on a real Redis: a → group(3) → c in order with ``ctx.parents``, nesting, waiting on
the workflow, failure (``on_failure`` once, the steps not started archived, the completed
steps' results kept for a resume), validation by step path and atomicity (a bad step
writes nothing)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from pydantic import BaseModel
from worker_helpers import Running

import bingo_core as bingo
from bingo_core import AsyncClient, Client
from bingo_core.app import App
from bingo_core.plugins import PluginManager
from bingo_core.registry import Registry, TaskRegister
from bingo_core.workflow import Step

TIMES: dict[str, tuple[float, float]] = {}
SEEN: dict[str, tuple[list[Any], str | None]] = {}
ALERTS: list[str | None] = []
LOCK = threading.Lock()


class Job(BaseModel):
    name: str
    sleep: float = 0.0


async def record(ctx: bingo.TaskContext, payload: Job) -> str:
    started = time.time()
    if payload.sleep:
        await asyncio.sleep(payload.sleep)
    with LOCK:
        TIMES[payload.name] = (started, time.time())
        SEEN[payload.name] = (list(ctx.parents), ctx.workflow_id)
    return payload.name


def fail(ctx: bingo.TaskContext, payload: Job) -> None:
    time.sleep(payload.sleep)
    raise bingo.SkipRetry(f"{payload.name} failed")


def alert(ctx: bingo.TaskContext, payload: Job) -> None:
    with LOCK:
        ALERTS.append(ctx.workflow_id)


class Plugin:
    @bingo.hookimpl
    def bingo_register_tasks(self, register: TaskRegister) -> None:
        register("w:step", record, payload=Job)
        register("w:fail", fail, payload=Job)
        register("w:alert", alert, payload=Job)
        register("w:other", record, payload=Job, queue="other")


@pytest.fixture
def registry() -> tuple[Registry, PluginManager]:
    manager = PluginManager()
    manager.add(Plugin(), "wfplugin")
    return manager.collect(), manager


@pytest.fixture
def client(bingo_settings: Any, registry: tuple[Registry, PluginManager]) -> Iterator[Client]:
    TIMES.clear()
    SEEN.clear()
    ALERTS.clear()
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


def job(name: str, sleep: float = 0.0, kind: str = "w:step") -> Step:
    return bingo.step(kind, {"name": name, "sleep": sleep})


def keys(client: Client) -> list[str]:
    r: redis.Redis = client.broker.redis
    return sorted(k.decode() for k in r.keys("*") if b":queues" not in k)


def test_a_chord_runs_in_order_with_its_parents(client: Client, worker: Running) -> None:
    flow = bingo.chain(
        job("a", 0.1),
        bingo.group(job(f"b{i}", 0.05 * (3 - i)) for i in range(3)),
        job("c"),
    )
    wf = client.enqueue_workflow(flow)
    assert wf.id.startswith("wf-") and len(wf.task_ids) == 5
    assert client.wait(wf.id, timeout=10) == "c"
    a_end = TIMES["a"][1]
    assert all(a_end <= TIMES[f"b{i}"][0] for i in range(3))
    assert max(TIMES[f"b{i}"][1] for i in range(3)) <= TIMES["c"][0]
    assert SEEN["a"] == ([], wf.id)
    assert all(SEEN[f"b{i}"] == (["a"], wf.id) for i in range(3))
    assert SEEN["c"] == (["b0", "b1", "b2"], wf.id)  # flow order, not the order they ended
    r: redis.Redis = client.broker.redis
    record = r.hgetall(f"bingo:{{default}}:wf:{wf.id}")
    assert record[b"state"] == b"completed" and record[b"done"] == b"5"
    # the steps' results were kept until it ended, then for their retention (none)
    assert r.zscore("bingo:{default}:completed", wf.task_ids[0]) < time.time() + 1


def test_a_final_group_gives_the_list_and_nesting_works(client: Client, worker: Running) -> None:
    flow = bingo.chain(
        job("a"),
        bingo.group(bingo.chain(job("x1", 0.1), job("x2")), job("y")),
    )
    wf = client.enqueue_workflow(flow)
    assert client.wait(wf.id, timeout=10) == ["x2", "y"]
    assert TIMES["x1"][1] <= TIMES["x2"][0]
    assert SEEN["x2"][0] == ["x1"] and SEEN["y"][0] == ["a"]


def test_a_lone_group_and_a_lone_step(client: Client, worker: Running) -> None:
    wf = client.enqueue_workflow(bingo.group([job("p"), job("q")]))
    assert client.wait(wf.id, timeout=10) == ["p", "q"]
    wf = client.enqueue_workflow(job("solo"))
    assert client.wait(wf.id, timeout=10) == "solo"


def test_the_async_client_enqueues_and_waits(bingo_settings: Any, registry: Any) -> None:
    app = App(bingo_settings, registry=registry[0], manager=registry[1])
    running = Running(app)

    async def go() -> Any:
        ac = AsyncClient(bingo_settings, registry=registry[0])
        try:
            wf = await ac.enqueue_workflow(bingo.chain(job("m"), job("n")))
            return await ac.wait(wf.id, timeout=10)
        finally:
            await ac.aclose()
            await ac.broker.close()

    try:
        assert asyncio.run(go()) == "n"
    finally:
        running.stop()
        app.close()


def test_a_failed_step_fails_the_workflow_once(client: Client, worker: Running) -> None:
    flow = bingo.chain(
        job("a"),
        bingo.group(job("bad", 0.2, kind="w:fail"), job("slow", 0.5), job("z")),
        job("c"),
        job("d"),
    )
    wf = client.enqueue_workflow(flow, on_failure=job("alert", kind="w:alert"))
    with pytest.raises(bingo.TaskFailed, match=rf"workflow {wf.id} .* failed: step \w+ was"):
        client.wait(wf.id, timeout=10)
    deadline = time.time() + 5
    while "slow" not in TIMES or not ALERTS:
        assert time.time() < deadline
        time.sleep(0.05)
    time.sleep(0.3)
    assert ALERTS == [wf.id]  # on_failure ran once
    assert "c" not in TIMES and "d" not in TIMES  # what had not started never ran
    reader = client.broker.reader
    c, d = (reader.get_task("default", i) for i in wf.task_ids[-2:])
    assert c.state == d.state == "archived"
    r: redis.Redis = client.broker.redis
    assert r.hget(f"bingo:{{default}}:wf:{wf.id}", "state") == b"failed"
    # a waiter arriving late gets the same answer
    with pytest.raises(bingo.TaskFailed):
        client.wait(wf.id, timeout=1)


def test_cancelling_a_waiting_step_fails_the_workflow(client: Client) -> None:
    wf = client.enqueue_workflow(
        bingo.chain(job("a"), job("b"), job("c")), job("al", kind="w:alert")
    )
    client.broker.task_move("default", wf.task_ids[1], "delete")
    r: redis.Redis = client.broker.redis
    record = r.hgetall(f"bingo:{{default}}:wf:{wf.id}")
    assert record[b"state"] == b"failed"
    assert record[b"error"] == f"step {wf.task_ids[1]} was deleted".encode()
    reader = client.broker.reader
    assert reader.get_task("default", wf.task_ids[0]).state == "archived"  # was pending
    assert reader.get_task("default", wf.task_ids[2]).state == "archived"
    stats = reader.queue_stats("default")
    assert (stats.pending, stats.waiting) == (1, 0)  # only the on_failure step


@pytest.mark.parametrize(
    ("flow", "message"),
    [
        (
            lambda: bingo.chain(
                job("a"), bingo.group(job("b"), job("c"), job("d"), bingo.step("w:nope"))
            ),
            "steps[1][3]: ",
        ),
        (
            lambda: bingo.chain(job("a"), bingo.group(job("b"), bingo.step("w:step", {"nam": 1}))),
            "steps[1][1]: ",
        ),
        (lambda: bingo.chain(job("a"), bingo.group()), "steps[1]: empty group"),
        (
            lambda: bingo.chain(job("a"), bingo.step("w:step", {"name": "b"}, depends_on=["x"])),
            "steps[1] (w:step): option depends_on is not allowed on a workflow step",
        ),
    ],
)
def test_a_bad_step_is_named_and_nothing_is_written(
    client: Client, flow: Any, message: str
) -> None:
    before = keys(client)
    with pytest.raises(bingo.BingoError) as caught:
        client.enqueue_workflow(flow())
    text = str(caught.value)
    assert text.startswith(message) and "\n" not in text
    assert keys(client) == before


def test_a_taken_step_id_writes_nothing(client: Client) -> None:
    wf = client.enqueue_workflow(bingo.chain(job("a"), job("b")))
    r: redis.Redis = client.broker.redis
    before = keys(client)
    from bingo_core import workflow as wfmod  # lazy: the module under test

    compiled = wfmod.compile_flow(client.builder, bingo.chain(job("c"), job("d")))
    compiled.steps[1].id = wf.task_ids[0]
    [(queue, call)] = wfmod.workflow_calls(compiled, client.broker.q, time.time())
    assert not client.broker.enqueue_workflow(queue, call)
    assert keys(client) == before
    assert r.llen("bingo:{default}:pending") == 1


def test_a_chord_wider_than_the_parents_cache(client: Client, worker: Running) -> None:
    from bingo_core.worker.ports import PARENTS_KEPT  # lazy: the bound under test

    n = PARENTS_KEPT + 44
    flow = bingo.chain(job("a"), bingo.group(job(f"m{i}") for i in range(n)), job("c"))
    wf = client.enqueue_workflow(flow)
    assert client.wait(wf.id, timeout=30) == "c"
    assert SEEN["c"][0] == [f"m{i}" for i in range(n)]
    assert all(SEEN[f"m{i}"][0] == ["a"] for i in range(n))


def test_deleting_a_completed_step_leaves_the_workflow_running(client: Client) -> None:
    wf = client.enqueue_workflow(bingo.chain(job("a"), job("b")))
    r: redis.Redis = client.broker.redis
    first = f"bingo:{{default}}:t:{wf.task_ids[0]}"
    r.lrem("bingo:{default}:pending", 0, wf.task_ids[0])
    r.hset(first, mapping={"state": "completed", "result": '"a"'})
    r.zadd("bingo:{default}:completed", {wf.task_ids[0]: time.time() + 60})
    client.broker.task_move("default", wf.task_ids[0], "delete")
    assert r.hget(f"bingo:{{default}}:wf:{wf.id}", "state") == b"running"


def _ends(client: Client, wf: Any) -> list[float]:
    r: redis.Redis = client.broker.redis
    return [float(r.zscore("bingo:{default}:completed", t) or 0) - time.time() for t in wf.task_ids]


def test_each_step_keeps_its_result_for_its_own_retention_once_the_workflow_ends(
    client: Client, worker: Running
) -> None:
    hour = [bingo.step("w:step", {"name": n}, retention="1h") for n in "abc"]
    wf = client.enqueue_workflow(bingo.chain(hour[0], bingo.group(hour[1], hour[2])))
    assert client.wait(wf.id, timeout=10) == ["b", "c"]
    assert all(3500 < s <= 3600 for s in _ends(client, wf))
    mixed = bingo.chain(
        bingo.step("w:step", {"name": "x"}, retention="1h"),
        bingo.group(bingo.step("w:step", {"name": "y"}, retention="2h"), job("z")),
    )
    wf = client.enqueue_workflow(mixed)
    assert client.wait(wf.id, timeout=10) == ["y", "z"]
    x, y, z = _ends(client, wf)
    assert 3500 < x <= 3600 and 7100 < y <= 7200 and z < 1


def test_a_workflow_recorded_before_its_steps_retention_was_recorded(
    client: Client, worker: Running
) -> None:
    r: redis.Redis = client.broker.redis
    flow = bingo.chain(bingo.step("w:step", {"name": "a"}, retention="1h"), job("b", 0.3))
    wf = client.enqueue_workflow(flow)
    r.hdel(f"bingo:{{default}}:wf:{wf.id}", "step_keep")  # as an older version wrote it
    assert client.wait(wf.id, timeout=10) == "b"
    a, b = _ends(client, wf)
    assert 3500 < a <= 3600 and b < 1

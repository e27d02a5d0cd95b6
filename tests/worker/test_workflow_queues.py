"""Workflows whose steps name their own queues, with a real worker serving three queues on
a real Redis: order and ``ctx.parents`` across queues (a group spanning queues, a chord on
another queue), the result of a final group spread over queues, a failure on one queue
archiving the steps of another and enqueuing ``on_failure`` (in a third queue) once,
cancel and queue delete, and the relay outboxes left empty."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from pydantic import BaseModel
from worker_helpers import Running

import bingo_core as bingo
from bingo_core import Client
from bingo_core.app import App
from bingo_core.broker.relays import deliver
from bingo_core.plugins import PluginManager
from bingo_core.registry import Registry, TaskRegister
from bingo_core.workflow import Step
from bingo_core.workflows_view import cancel_workflow, find_workflow, workflow_detail

QUEUES = ("default", "red", "blue")
TIMES: dict[str, tuple[float, float]] = {}
SEEN: dict[str, tuple[list[Any], str | None, str]] = {}
ALERTS: list[tuple[str | None, str]] = []
LOCK = threading.Lock()


class Job(BaseModel):
    name: str
    sleep: float = 0.0


def record(ctx: bingo.TaskContext, payload: Job) -> str:
    started = time.time()
    time.sleep(payload.sleep)
    with LOCK:
        TIMES[payload.name] = (started, time.time())
        SEEN[payload.name] = (list(ctx.parents), ctx.workflow_id, ctx.queue)
    return payload.name


def fail(ctx: bingo.TaskContext, payload: Job) -> None:
    time.sleep(payload.sleep)
    raise bingo.SkipRetry(f"{payload.name} failed")


def alert(ctx: bingo.TaskContext, payload: Job) -> None:
    with LOCK:
        ALERTS.append((ctx.workflow_id, ctx.queue))


class Plugin:
    @bingo.hookimpl
    def bingo_register_tasks(self, register: TaskRegister) -> None:
        register("q:step", record, payload=Job)
        register("q:fail", fail, payload=Job)
        register("q:alert", alert, payload=Job)


@pytest.fixture
def registry() -> tuple[Registry, PluginManager]:
    manager = PluginManager()
    manager.add(Plugin(), "wfqueues")
    return manager.collect(), manager


@pytest.fixture
def settings(bingo_settings_factory: Any) -> Any:
    return bingo_settings_factory(worker={"queues": dict.fromkeys(QUEUES, 1)})


@pytest.fixture
def client(settings: Any, registry: tuple[Registry, PluginManager]) -> Iterator[Client]:
    TIMES.clear()
    SEEN.clear()
    ALERTS.clear()
    c = Client(settings, registry=registry[0])
    yield c
    c.close()


@pytest.fixture
def worker(settings: Any, registry: tuple[Registry, PluginManager]) -> Iterator[Running]:
    app = App(settings, registry=registry[0], manager=registry[1])
    running = Running(app)
    yield running
    running.stop()
    app.close()


def job(name: str, queue: str = "default", sleep: float = 0.0, kind: str = "q:step") -> Step:
    return bingo.step(kind, {"name": name, "sleep": sleep}, queue=queue)


def outboxes_empty(client: Client) -> bool:
    r: redis.Redis = client.broker.redis
    return all(r.hlen(client.broker.q(q).relay) == 0 for q in QUEUES)


def wait_for(check: Any, timeout: float = 5.0) -> None:
    deadline = time.time() + timeout
    while not check():
        assert time.time() < deadline, "timed out"
        time.sleep(0.02)


def test_a_group_spanning_queues_and_a_chord_on_another(client: Client, worker: Running) -> None:
    flow = bingo.chain(
        job("a", "red", 0.1),
        bingo.group(job("b0", "default", 0.1), job("b1", "red"), job("b2", "blue", 0.05)),
        job("c", "blue"),
        job("d", "default"),
    )
    wf = client.enqueue_workflow(flow)
    assert wf.queue == "red"  # the first step's queue keeps the record
    assert client.wait(wf.id, timeout=10) == "d"
    assert all(TIMES["a"][1] <= TIMES[f"b{i}"][0] for i in range(3))
    assert max(TIMES[f"b{i}"][1] for i in range(3)) <= TIMES["c"][0]
    assert TIMES["c"][1] <= TIMES["d"][0]
    assert [SEEN[n][2] for n in ("a", "b0", "b1", "b2", "c", "d")] == [
        "red", "default", "red", "blue", "blue", "default"
    ]  # fmt: skip
    assert all(SEEN[f"b{i}"][:2] == (["a"], wf.id) for i in range(3))
    assert SEEN["c"][0] == ["b0", "b1", "b2"] and SEEN["d"][0] == ["c"]
    r: redis.Redis = client.broker.redis
    record = r.hgetall(f"bingo:{{red}}:wf:{wf.id}")
    assert record[b"state"] == b"completed" and record[b"done"] == b"6"
    wait_for(lambda: outboxes_empty(client))
    # each queue released its steps' retention once the workflow ended (none kept)
    wait_for(lambda: r.zscore("bingo:{blue}:completed", wf.task_ids[4]) < time.time() + 1)
    assert r.zscore("bingo:{default}:completed", wf.task_ids[5]) < time.time() + 1
    assert r.hlen("bingo:{default}:workflows:away") == 0
    view = find_workflow(client.broker, QUEUES, wf.id)
    assert view.queue == "red" and [s.state for s in view.steps] == ["completed"] * 6
    assert [(s.id, s.queue) for s in view.steps] == list(  # in flow order
        zip(wf.task_ids, ["red", "default", "red", "blue", "blue", "default"], strict=True)
    )
    detail = workflow_detail(client.broker, QUEUES, wf.id)  # the dashboard's
    assert detail.ids == wf.task_ids and detail.tree is not None
    assert [t.queue for t in detail.tasks if t] == [s.queue for s in view.steps]


def test_a_final_group_over_queues_gives_the_list(client: Client, worker: Running) -> None:
    flow = bingo.chain(job("a"), bingo.group(job("x", "red"), job("y", "blue"), job("z")))
    wf = client.enqueue_workflow(flow)
    assert client.wait(wf.id, timeout=10) == ["x", "y", "z"]


def test_a_failure_on_one_queue_stops_the_others(client: Client, worker: Running) -> None:
    flow = bingo.chain(
        job("a"),
        bingo.group(job("bad", "red", 0.2, kind="q:fail"), job("slow", "blue", 0.5)),
        job("c", "blue"),
        job("d", "default"),
    )
    wf = client.enqueue_workflow(flow, on_failure=job("alert", "blue", kind="q:alert"))
    with pytest.raises(bingo.TaskFailed, match=rf"workflow {wf.id} .* failed: step \w+ was"):
        client.wait(wf.id, timeout=10)
    wait_for(lambda: "slow" in TIMES and ALERTS and outboxes_empty(client))
    time.sleep(0.3)
    assert ALERTS == [(wf.id, "blue")]  # once, in its own queue
    assert "c" not in TIMES and "d" not in TIMES
    reader = client.broker.reader
    assert reader.get_task("blue", wf.task_ids[3]).state == "archived"
    assert reader.get_task("default", wf.task_ids[4]).state == "archived"
    r: redis.Redis = client.broker.redis
    assert r.hget(f"bingo:{{default}}:wf:{wf.id}", "failed_step") == wf.task_ids[1].encode()


def test_cancel_and_queue_delete_reach_the_other_queues(client: Client) -> None:
    # no worker: the relay is delivered by the client and the CLI calls
    flow = bingo.chain(job("a"), job("b", "red"), job("c", "blue"))
    wf = client.enqueue_workflow(flow)
    reader = client.broker.reader
    assert reader.get_task("red", wf.task_ids[1]).state == "waiting"
    queue, running = cancel_workflow(client.broker, QUEUES, wf.id)
    assert (queue, running) == ("default", True)
    deliver(client.broker, QUEUES)
    assert [reader.get_task(q, i).state for q, i in zip(QUEUES, wf.task_ids, strict=True)] == [
        "archived"
    ] * 3
    assert outboxes_empty(client)
    # deleting a queue holding a step fails the workflow at home
    wf2 = client.enqueue_workflow(bingo.chain(job("a2"), job("b2", "red")), job("al", "blue"))
    client.broker.delete_queue("red", force=True)
    deliver(client.broker, QUEUES)
    with pytest.raises(bingo.TaskFailed, match="was deleted"):
        client.wait(wf2.id, timeout=2)
    assert reader.queue_stats("blue").pending == 1  # the on_failure step


def test_a_step_killed_after_delivery_is_delivered_once(client: Client) -> None:
    """An outbox entry delivered twice (a process killed before it deleted the entry)
    counts once: the second delivery changes nothing."""
    flow = bingo.chain(job("a", "red"), bingo.group(job("b"), job("c", "blue")))
    wf = client.enqueue_workflow(flow)
    r: redis.Redis = client.broker.redis
    broker = client.broker
    # run step a by hand: fetch, ack with its result
    from bingo_core.broker import scripts  # lazy: the script builders under test

    fetched = broker._call(scripts.fetch(broker.q("red"), 1, time.time(), time.time() + 30, "w"))
    assert fetched
    broker._call(scripts.ack(broker.q("red"), [(wf.task_ids[0], 0.0, "", '"a"')], "w", time.time()))
    saved = r.hgetall(broker.q("red").relay)
    assert saved  # the done count for home and the release of blue's step
    deliver(broker, ["red"])
    r.hset(broker.q("red").relay, mapping=saved)  # as if killed before the delete
    deliver(broker, ["red"])
    assert r.hget(f"bingo:{{red}}:wf:{wf.id}", "done") == b"1"
    assert broker.reader.get_task("blue", wf.task_ids[2]).state == "pending"
    assert r.llen("bingo:{blue}:pending") == 1
    # step b (default) completes: its count reaches the home once, however often delivered
    assert broker._call(scripts.fetch(broker.q("default"), 1, time.time(), time.time() + 30, "w"))
    done_b = [(wf.task_ids[1], 0.0, "", '"b"')]
    broker._call(scripts.ack(broker.q("default"), done_b, "w", time.time()))
    saved = r.hgetall(broker.q("default").relay)
    assert list(saved) == [f"red|done|{wf.id}|{wf.task_ids[1]}".encode()]
    for _ in range(2):
        r.hset(broker.q("default").relay, mapping=saved)
        deliver(broker, ["default"])
    assert r.hget(f"bingo:{{red}}:wf:{wf.id}", "done") == b"2"
    assert r.hget(f"bingo:{{red}}:wf:{wf.id}", "state") == b"running"


def test_depends_on_a_task_of_another_queue(client: Client, worker: Running) -> None:
    a = client.enqueue("q:step", {"name": "a", "sleep": 0.3}, queue="red")
    b = client.enqueue("q:step", {"name": "b"}, depends_on=[a], retention="1h")
    assert b.state == "waiting"
    assert client.wait(b.id, timeout=10) == "b"
    assert TIMES["a"][1] <= TIMES["b"][0]
    # a dependency completed and kept: released at once; archived: archived, naming it
    kept = client.enqueue("q:step", {"name": "kept"}, queue="blue", retention="1h")
    client.wait(kept.id, timeout=10)
    bad = client.enqueue("q:fail", {"name": "bad", "sleep": 0.2}, queue="blue")
    after = client.enqueue("q:step", {"name": "after"}, depends_on=[kept, bad])
    with pytest.raises(bingo.TaskFailed, match=f"dependency {bad.id} was archived"):
        client.wait(after.id, timeout=10)
    assert "after" not in TIMES
    # a missing one: refused naming its queue, the task archived
    gone = client.enqueue("q:step", {"name": "gone"}, queue="red", process_in="1h")
    client.broker.task_move("red", gone.id, "delete")
    with pytest.raises(bingo.DependencyError, match=f"no task '{gone.id}' in queue 'red'"):
        client.enqueue("q:step", {"name": "never"}, queue="blue", depends_on=[gone])
    wait_for(lambda: outboxes_empty(client))
    assert client.broker.reader.queue_stats("blue").archived == 2


def test_an_outbox_of_the_wrong_type_is_put_aside(client: Client) -> None:
    r: redis.Redis = client.broker.redis
    r.set("bingo:{default}:relay", "not a hash")
    r.set("bingo:{default}:relay:wake", "nor a list")
    wf = client.enqueue_workflow(bingo.group(job("a"), job("b", "red")))
    assert client.broker.reader.get_task("red", wf.task_ids[1]).state == "pending"  # opened
    assert r.get("bingo:{default}:malformed:relay") == b"not a hash"
    assert outboxes_empty(client)


def test_a_step_of_another_queue_names_its_workflow(client: Client, worker: Running) -> None:
    wf = client.enqueue_workflow(bingo.chain(job("a"), job("b", "red")))
    assert client.wait(wf.id, timeout=10) == "b"
    assert client.info(wf.task_ids[1]).workflow == wf.id  # the step in red
    view = find_workflow(client.broker, QUEUES, wf.id)
    # ended by relay_in.lua in the home queue, to the microsecond like created
    assert view.ended is not None and view.ended != int(view.ended)
    assert view.duration is not None and view.duration >= 0
    r: redis.Redis = client.broker.redis
    assert r.zscore("bingo:{default}:workflows:ends", wf.id) is not None
    assert not r.exists("bingo:{red}:workflows:ends")

"""Resuming a failed workflow whose steps live in several queues, by retrying its archived
step (``Inspector.act``, as ``tasks retry`` and the dashboard do) in the step's own queue
or in the home queue, with a real worker serving three queues on a real Redis: the steps
archived because of the failure go back in every queue, none starts before its parents
completed, completed steps do not run again, the record (in the home) completes, and
``on_failure`` runs once per failure, a second failure included; a bulk retry of a
queue's archived tasks (the failed step and a held one each asking the home) resumes
once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from pydantic import BaseModel
from worker_helpers import Running

import bingo_core as bingo
from bingo_core import Client
from bingo_core.app import App
from bingo_core.errors import UsageError
from bingo_core.inspector import Inspector
from bingo_core.plugins import PluginManager
from bingo_core.registry import Registry, TaskRegister
from bingo_core.workflow import Step
from bingo_core.workflows_view import cancel_workflow

QUEUES = ("default", "red", "blue")
RUNS: Counter[str] = Counter()
TIMES: dict[str, tuple[float, float]] = {}
PARENTS: dict[str, list[Any]] = {}
BROKEN: set[str] = set()
ALERTS: list[str] = []
LOCK = threading.Lock()


class Job(BaseModel):
    name: str
    sleep: float = 0.0


def record(ctx: bingo.TaskContext, payload: Job) -> str:
    started = time.time()
    time.sleep(payload.sleep)
    with LOCK:
        RUNS[payload.name] += 1
        TIMES[payload.name] = (started, time.time())
        PARENTS[payload.name] = list(ctx.parents)
        broken = payload.name in BROKEN
    if broken:
        raise bingo.SkipRetry(f"{payload.name} is broken")
    return payload.name


def alert(ctx: bingo.TaskContext, payload: Job) -> None:
    with LOCK:
        ALERTS.append(ctx.task_id)


class Plugin:
    @bingo.hookimpl
    def bingo_register_tasks(self, register: TaskRegister) -> None:
        register("qr:step", record, payload=Job)
        register("qr:alert", alert, payload=Job)


@pytest.fixture
def registry() -> tuple[Registry, PluginManager]:
    manager = PluginManager()
    manager.add(Plugin(), "qresume")
    return manager.collect(), manager


@pytest.fixture
def settings(bingo_settings_factory: Any) -> Any:
    return bingo_settings_factory(worker={"queues": dict.fromkeys(QUEUES, 1)})


@pytest.fixture
def client(settings: Any, registry: tuple[Registry, PluginManager]) -> Iterator[Client]:
    for kept in (RUNS, TIMES, PARENTS, BROKEN):
        kept.clear()
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


def job(name: str, queue: str, sleep: float = 0.0) -> Step:
    return bingo.step("qr:step", {"name": name, "sleep": sleep}, queue=queue)


def until(check: Any, timeout: float = 10.0) -> None:
    deadline = time.time() + timeout
    while not check():
        assert time.time() < deadline, "timed out"
        time.sleep(0.02)


def outcomes(r: redis.Redis, queue: str) -> dict[str, str]:
    raw = r.hgetall(f"bingo:{{{queue}}}:workflows:outcomes")
    return {k.decode(): v.decode() for k, v in raw.items()}


def outboxes_empty(r: redis.Redis) -> bool:
    return all(r.hlen(f"bingo:{{{q}}}:relay") == 0 for q in QUEUES)


def test_retrying_a_step_of_another_queue_resumes_the_workflow_twice(
    client: Client, worker: Running
) -> None:
    inspector = Inspector(client.broker)
    r: redis.Redis = client.broker.redis
    BROKEN.add("bad")
    flow = bingo.chain(
        job("a", "red"),
        bingo.group(job("b0", "default"), job("bad", "blue", 0.1), job("b2", "default", 0.4)),
        job("c", "blue"),
        job("d", "red"),
    )
    alarm = bingo.step("qr:alert", {"name": "al"}, queue="default")
    wf = client.enqueue_workflow(flow, on_failure=alarm)
    assert wf.queue == "red"
    bad, c, d = wf.task_ids[2], wf.task_ids[4], wf.task_ids[5]
    with pytest.raises(bingo.TaskFailed):
        client.wait(wf.id, timeout=10)
    until(lambda: len(ALERTS) == 1 and RUNS["b2"] == 1 and outboxes_empty(r))
    assert r.hget(f"bingo:{{blue}}:t:{c}", "wf_held") == b"1"  # held in its own queue
    assert r.hget(f"bingo:{{red}}:t:{d}", "wf_held") == b"1"
    # retried while still broken: the workflow runs again and fails again (on_failure again)
    inspector.act("retry", bad)
    until(lambda: len(ALERTS) == 2 and outboxes_empty(r))
    assert r.hget(f"bingo:{{red}}:wf:{wf.id}", "state") == b"failed"
    assert RUNS["bad"] == 2 and RUNS["c"] == 0 and RUNS["d"] == 0
    BROKEN.clear()
    inspector.act("retry", bad)  # in blue: the home (red) resumes the record
    assert client.wait(wf.id, timeout=10) == "d"
    assert RUNS == {"a": 1, "b0": 1, "bad": 3, "b2": 1, "c": 1, "d": 1}
    assert PARENTS["c"] == ["b0", "bad", "b2"] and PARENTS["d"] == ["c"]
    assert max(TIMES[n][1] for n in ("b0", "bad", "b2")) <= TIMES["c"][0]
    assert TIMES["c"][1] <= TIMES["d"][0]
    rec = {k.decode(): v.decode() for k, v in r.hgetall(f"bingo:{{red}}:wf:{wf.id}").items()}
    assert (rec["state"], rec["done"], rec["total"]) == ("completed", "6", "6")
    assert "error" not in rec and rec["failures"] == "2"
    assert outcomes(r, "red") == {"failed": "2", "resumed": "2", "completed": "1"}
    until(lambda: outboxes_empty(r))
    assert len(ALERTS) == 2
    assert all(r.hlen(f"bingo:{{{q}}}:workflows:away") == 0 for q in QUEUES)
    for q, i in (("blue", c), ("blue", bad), ("red", d)):
        assert r.hget(f"bingo:{{{q}}}:t:{i}", "state") == b"completed"


def test_retrying_the_failed_step_in_the_home_puts_back_the_other_queues_steps(
    client: Client, worker: Running
) -> None:
    inspector = Inspector(client.broker)
    r: redis.Redis = client.broker.redis
    BROKEN.add("bad")
    flow = bingo.chain(
        job("bad", "red"),
        bingo.group(job("x", "blue"), job("y", "default", 0.1)),
        job("z", "red"),
        job("w", "blue"),
    )
    wf = client.enqueue_workflow(flow)
    with pytest.raises(bingo.TaskFailed):
        client.wait(wf.id, timeout=10)
    until(lambda: outboxes_empty(r))
    x, y, w = wf.task_ids[1], wf.task_ids[2], wf.task_ids[4]
    assert r.hget(f"bingo:{{blue}}:t:{x}", "state") == b"archived"
    assert r.hget(f"bingo:{{default}}:t:{y}", "wf_held") == b"1"
    BROKEN.clear()
    inspector.act("retry", wf.task_ids[0])
    assert client.wait(wf.id, timeout=10) == "w"
    assert RUNS == {"bad": 2, "x": 1, "y": 1, "z": 1, "w": 1}
    # x and y went back waiting for bad (another queue's): they started after it completed
    assert TIMES["bad"][1] <= min(TIMES["x"][0], TIMES["y"][0])
    assert max(TIMES["x"][1], TIMES["y"][1]) <= TIMES["z"][0] <= TIMES["z"][1] <= TIMES["w"][0]
    assert PARENTS["z"] == ["x", "y"]
    assert outcomes(r, "red") == {"failed": "1", "resumed": "1", "completed": "1"}
    until(lambda: outboxes_empty(r))
    assert r.hget(f"bingo:{{blue}}:t:{w}", "state") == b"completed"


def test_a_bulk_retry_in_another_queue_resumes_once(client: Client, worker: Running) -> None:
    inspector = Inspector(client.broker)
    r: redis.Redis = client.broker.redis
    BROKEN.add("bad")
    flow = bingo.chain(
        job("a", "red"),
        job("bad", "blue"),
        bingo.group(job("h1", "blue"), job("h2", "default")),
        job("z", "red"),
    )
    wf = client.enqueue_workflow(flow)
    with pytest.raises(bingo.TaskFailed):
        client.wait(wf.id, timeout=10)
    until(lambda: outboxes_empty(r))
    assert r.zcard("bingo:{blue}:archived") == 2  # bad, and h1 held
    BROKEN.clear()
    # every archived task of blue at once: bad and the held h1 each ask the home
    assert inspector.act_state("retry", "blue", "archived") == 2
    assert client.wait(wf.id, timeout=10) == "z"
    assert RUNS == {"a": 1, "bad": 2, "h1": 1, "h2": 1, "z": 1}
    assert TIMES["bad"][1] <= min(TIMES["h1"][0], TIMES["h2"][0])
    assert outcomes(r, "red") == {"failed": "1", "resumed": "1", "completed": "1"}


def test_a_cancelled_workflow_is_not_resumed_from_another_queue(
    client: Client, worker: Running
) -> None:
    inspector = Inspector(client.broker)
    r: redis.Redis = client.broker.redis
    wf = client.enqueue_workflow(bingo.chain(job("a", "red", 0.3), job("b", "blue")))
    until(
        lambda: RUNS["a"] == 0 and r.hget(f"bingo:{{red}}:t:{wf.task_ids[0]}", "state") == b"active"
    )
    cancel_workflow(client.broker, ["red", "blue"], wf.id)
    until(lambda: r.hget(f"bingo:{{blue}}:t:{wf.task_ids[1]}", "state") == b"archived")
    with pytest.raises(UsageError, match="cancelled workflow is not resumed"):
        inspector.act("retry", wf.task_ids[1])
    assert r.hget(f"bingo:{{blue}}:t:{wf.task_ids[1]}", "state") == b"archived"

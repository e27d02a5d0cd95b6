"""Resuming a failed workflow by retrying its archived step (``Inspector.act``, which
``tasks retry`` and the dashboard use) with a real worker on a real Redis: the flow goes
on where it stopped (completed steps do not run again, the steps archived because of the
failure wait for their parents again), ``on_failure`` runs once per failure, a cancelled
workflow is not resumed, a bulk retry of the archived tasks resumes it once, and retries
racing with a worker running the other steps."""

from __future__ import annotations

import contextlib
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

RUNS: Counter[str] = Counter()
PARENTS: dict[str, list[Any]] = {}
BROKEN: set[str] = set()
ALERTS: list[str] = []
LOCK = threading.Lock()


class Job(BaseModel):
    name: str
    sleep: float = 0.0


def record(ctx: bingo.TaskContext, payload: Job) -> str:
    time.sleep(payload.sleep)
    with LOCK:
        RUNS[payload.name] += 1
        PARENTS[payload.name] = list(ctx.parents)
        broken = payload.name in BROKEN
    if broken:
        raise bingo.SkipRetry(f"{payload.name} is broken")
    return payload.name


def flaky(ctx: bingo.TaskContext, payload: Job) -> str:
    with LOCK:
        RUNS[payload.name] += 1
        PARENTS[payload.name] = list(ctx.parents)
        first = RUNS[payload.name] == 1
    if first:
        raise RuntimeError(f"{payload.name}: first attempt fails")
    return payload.name


def alert(ctx: bingo.TaskContext, payload: Job) -> None:
    with LOCK:
        ALERTS.append(ctx.task_id)


class Plugin:
    @bingo.hookimpl
    def bingo_register_tasks(self, register: TaskRegister) -> None:
        register("r:step", record, payload=Job)
        register("r:alert", alert, payload=Job)
        register("r:flaky", flaky, payload=Job, max_retry=1, retry_backoff=0.6)


@pytest.fixture
def registry() -> tuple[Registry, PluginManager]:
    manager = PluginManager()
    manager.add(Plugin(), "resumeplugin")
    return manager.collect(), manager


@pytest.fixture
def client(bingo_settings: Any, registry: tuple[Registry, PluginManager]) -> Iterator[Client]:
    RUNS.clear()
    PARENTS.clear()
    BROKEN.clear()
    ALERTS.clear()
    c = Client(bingo_settings, registry=registry[0])
    yield c
    c.close()


@pytest.fixture
def inspector(client: Client) -> Inspector:
    return Inspector(client.broker)


@pytest.fixture
def worker(bingo_settings: Any, registry: tuple[Registry, PluginManager]) -> Iterator[Running]:
    app = App(bingo_settings, registry=registry[0], manager=registry[1])
    running = Running(app)
    yield running
    running.stop()
    app.close()


def job(name: str, sleep: float = 0.0) -> Step:
    return bingo.step("r:step", {"name": name, "sleep": sleep})


def until(check: Any, timeout: float = 10.0) -> None:
    deadline = time.time() + timeout
    while not check():
        assert time.time() < deadline, "timed out"
        time.sleep(0.02)


def record_of(client: Client, wf: str) -> dict[str, str]:
    r: redis.Redis = client.broker.redis
    return {k.decode(): v.decode() for k, v in r.hgetall(f"bingo:{{default}}:wf:{wf}").items()}


def outcomes(client: Client) -> dict[str, str]:
    r: redis.Redis = client.broker.redis
    raw = r.hgetall("bingo:{default}:workflows:outcomes")
    return {k.decode(): v.decode() for k, v in raw.items()}


def test_retrying_the_failed_step_resumes_the_workflow(
    client: Client, inspector: Inspector, worker: Running
) -> None:
    BROKEN.add("bad")
    flow = bingo.chain(
        job("a"), bingo.group(job("b0"), job("bad", 0.1), job("b2", 0.4)), job("c"), job("d")
    )
    wf = client.enqueue_workflow(flow, on_failure=bingo.step("r:alert", {"name": "al"}))
    with pytest.raises(bingo.TaskFailed):
        client.wait(wf.id, timeout=10)
    until(lambda: ALERTS and RUNS["b2"] == 1)  # b2 was running: it finished
    c = wf.task_ids[-2]
    score = client.broker.redis.zscore("bingo:{default}:completed", wf.task_ids[0])
    assert score > time.time() + 3600  # a's result is kept for a resume
    held = client.broker.redis.hget(f"bingo:{{default}}:t:{c}", "wf_held")
    assert held == b"1"
    BROKEN.clear()
    inspector.act("retry", wf.task_ids[2])
    assert client.wait(wf.id, timeout=10) == "d"
    assert RUNS == {"a": 1, "b0": 1, "bad": 2, "b2": 1, "c": 1, "d": 1}
    assert PARENTS["c"] == ["b0", "bad", "b2"] and PARENTS["d"] == ["c"]
    rec = record_of(client, wf.id)
    assert (rec["state"], rec["done"], rec["total"]) == ("completed", "6", "6")
    assert "error" not in rec and "failed_step" not in rec
    assert outcomes(client) == {"failed": "1", "resumed": "1", "completed": "1"}
    assert len(ALERTS) == 1
    reader = client.broker.reader
    assert {reader.get_task("default", i).state for i in wf.task_ids} == {"completed"}
    assert reader.get_task("default", c).error in ("", None)


def test_a_resumed_workflow_that_fails_again_runs_on_failure_again(
    client: Client, inspector: Inspector, worker: Running
) -> None:
    BROKEN.add("bad")
    flow = bingo.chain(job("a"), job("bad"), job("c"))
    wf = client.enqueue_workflow(flow, on_failure=bingo.step("r:alert", {"name": "al"}))
    with pytest.raises(bingo.TaskFailed):
        client.wait(wf.id, timeout=10)
    until(lambda: len(ALERTS) == 1)
    inspector.act("retry", wf.task_ids[1])
    with pytest.raises(bingo.TaskFailed):  # a new wait waits for the new end
        client.wait(wf.id, timeout=10)
    until(lambda: len(ALERTS) == 2)
    assert ALERTS[1] == f"{ALERTS[0]}-2"
    BROKEN.clear()
    inspector.act("retry", wf.task_ids[1])
    assert client.wait(wf.id, timeout=10) == "c"
    time.sleep(0.2)
    assert len(ALERTS) == 2 and RUNS == {"a": 1, "bad": 3, "c": 1}
    assert record_of(client, wf.id)["failures"] == "2"
    assert outcomes(client) == {"failed": "2", "resumed": "2", "completed": "1"}


def test_retrying_a_held_step_resumes_the_workflow(
    client: Client, inspector: Inspector, worker: Running
) -> None:
    BROKEN.add("bad")
    wf = client.enqueue_workflow(bingo.chain(job("a"), job("bad"), job("c"), job("d")))
    with pytest.raises(bingo.TaskFailed):
        client.wait(wf.id, timeout=10)
    BROKEN.clear()
    # c was archived because bad failed: retrying it resumes the workflow, c and d wait
    # again, bad (which failed by itself) stays archived until it is retried too
    inspector.act("retry", wf.task_ids[2])
    reader = client.broker.reader
    states = [reader.get_task("default", i).state for i in wf.task_ids]
    assert states == ["completed", "archived", "waiting", "waiting"]
    assert record_of(client, wf.id)["state"] == "running"
    inspector.act("retry", wf.task_ids[1])
    assert client.wait(wf.id, timeout=10) == "d"
    assert RUNS == {"a": 1, "bad": 2, "c": 1, "d": 1}
    assert PARENTS["c"] == ["bad"]


def test_a_cancelled_workflow_is_not_resumed(client: Client, inspector: Inspector) -> None:
    wf = client.enqueue_workflow(bingo.chain(job("a"), job("b")))
    from bingo_core.workflows_view import cancel_workflow  # lazy: the action under test

    cancel_workflow(client.broker, ["default"], wf.id)
    with pytest.raises(UsageError) as caught:
        inspector.act("retry", wf.task_ids[1])
    text = str(caught.value)
    assert "\n" not in text and "cancelled workflow" in text
    assert client.broker.reader.get_task("default", wf.task_ids[1]).state == "archived"
    assert record_of(client, wf.id)["state"] == "cancelled"
    moved = inspector.act_many("retry", "default", wf.task_ids)
    assert moved.done == 0 and set(moved.skipped.values()) == {"a step of a cancelled workflow"}


@pytest.mark.parametrize("bulk", ["act_state", "act_all"])  # the dashboard's, the CLI's
def test_retrying_all_archived_tasks_resumes_once(
    client: Client, inspector: Inspector, worker: Running, bulk: str
) -> None:
    BROKEN.update({"bad1", "bad2"})
    flows = [
        bingo.chain(job(f"a{i}"), bingo.group(job(f"bad{i}"), job(f"m{i}")), job(f"z{i}"))
        for i in (1, 2)
    ]
    wfs = [client.enqueue_workflow(f) for f in flows]
    for wf in wfs:
        with pytest.raises(bingo.TaskFailed):
            client.wait(wf.id, timeout=10)
    BROKEN.clear()
    # the held steps are listed with the failed ones: each is put back once, by its resume
    assert getattr(inspector, bulk)("retry", "default", "archived") == 4
    assert [client.wait(wf.id, timeout=10) for wf in wfs] == ["z1", "z2"]
    assert RUNS["z1"] == RUNS["z2"] == 1 and PARENTS["z1"] == ["bad1", "m1"]
    assert inspector.act_all("retry", "default", "archived") == 0


def test_retries_racing_with_a_worker(
    client: Client, inspector: Inspector, worker: Running
) -> None:
    n = 20
    BROKEN.update(f"bad{i}" for i in range(n))
    wfs = [
        client.enqueue_workflow(
            bingo.chain(
                job(f"a{i}"), bingo.group(job(f"bad{i}"), job(f"slow{i}", 0.5)), job(f"z{i}")
            )
        )
        for i in range(n)
    ]
    for wf in wfs:
        with pytest.raises(bingo.TaskFailed):
            client.wait(wf.id, timeout=10)
    BROKEN.clear()
    # the slow steps are still running while four threads retry every failed step at once
    bad = [wf.task_ids[1] for wf in wfs]
    start = threading.Barrier(4)

    def retry(ids: list[str]) -> None:
        start.wait()
        for task_id in ids:
            with contextlib.suppress(UsageError):  # another thread put it back first
                inspector.act("retry", task_id)

    threads = [threading.Thread(target=retry, args=(bad[k::2] + bad,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [client.wait(wf.id, timeout=20) for wf in wfs] == [f"z{i}" for i in range(n)]
    for i in range(n):
        assert (RUNS[f"a{i}"], RUNS[f"slow{i}"], RUNS[f"z{i}"]) == (1, 1, 1)
        assert RUNS[f"bad{i}"] == 2 and PARENTS[f"z{i}"] == [f"bad{i}", f"slow{i}"]
    for wf in wfs:
        assert record_of(client, wf.id)["done"] == "4"
    assert outcomes(client) == {"failed": str(n), "resumed": str(n), "completed": str(n)}


def test_a_step_in_retry_when_the_workflow_fails_goes_on(
    client: Client, inspector: Inspector, worker: Running
) -> None:
    BROKEN.add("bad")
    flow = bingo.chain(
        bingo.group(job("bad", 0.2), bingo.step("r:flaky", {"name": "flaky"})), job("c")
    )
    wf = client.enqueue_workflow(flow)
    with pytest.raises(bingo.TaskFailed):
        client.wait(wf.id, timeout=10)
    reader = client.broker.reader
    assert reader.get_task("default", wf.task_ids[1]).state == "retry"  # it had started
    until(lambda: RUNS["flaky"] == 2)
    until(lambda: reader.get_task("default", wf.task_ids[1]).state == "completed")
    # its result is kept for a resume, as long as the failed workflow's record
    score = client.broker.redis.zscore("bingo:{default}:completed", wf.task_ids[1])
    assert score > time.time() + 3600
    BROKEN.clear()
    inspector.act("retry", wf.task_ids[0])
    assert client.wait(wf.id, timeout=10) == "c"
    assert RUNS == {"bad": 2, "flaky": 2, "c": 1} and PARENTS["c"] == ["bad", "flaky"]

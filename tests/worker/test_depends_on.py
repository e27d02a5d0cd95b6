"""The ``depends_on`` option with a real worker on a real Redis: a chain runs in order (each
handler records its start and end times), fan-in, an archived dependency archives its
dependents down the chain, a missing id is refused, ``enqueue_many``, cancel and delete of
a waiting task."""

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
from bingo_core import Client
from bingo_core.app import App
from bingo_core.errors import BulkEnqueueError
from bingo_core.plugins import PluginManager
from bingo_core.registry import Registry, TaskRegister

TIMES: dict[str, tuple[float, float]] = {}
LOCK = threading.Lock()


class Step(BaseModel):
    name: str
    sleep: float = 0.0


async def record(ctx: bingo.TaskContext, payload: Step) -> str:
    started = time.time()
    if payload.sleep:
        await asyncio.sleep(payload.sleep)
    with LOCK:
        TIMES[payload.name] = (started, time.time())
    return payload.name


async def fail(ctx: bingo.TaskContext, payload: Step) -> None:
    raise bingo.SkipRetry(f"{payload.name} failed")


class Plugin:
    @bingo.hookimpl
    def bingo_register_tasks(self, register: TaskRegister) -> None:
        register("d:step", record, payload=Step, retention=60)
        register("d:fail", fail, payload=Step)


@pytest.fixture
def registry() -> tuple[Registry, PluginManager]:
    manager = PluginManager()
    manager.add(Plugin(), "depsplugin")
    return manager.collect(), manager


@pytest.fixture
def client(bingo_settings: Any, registry: tuple[Registry, PluginManager]) -> Iterator[Client]:
    TIMES.clear()
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


def state(client: Client, task_id: str) -> str:
    return client.broker.reader.get_task("default", task_id).state


def test_a_chain_of_three_runs_in_order(client: Client, worker: Running) -> None:
    a = client.enqueue("d:step", {"name": "a", "sleep": 0.2})
    b = client.enqueue("d:step", {"name": "b", "sleep": 0.1}, depends_on=[a.id])
    c = client.enqueue("d:step", {"name": "c"}, depends_on=[b.id])
    assert b.state == "waiting"
    assert client.wait(c.id, timeout=10) == "c"
    assert TIMES["a"][1] <= TIMES["b"][0] and TIMES["b"][1] <= TIMES["c"][0]
    assert client.info(c.id).depends_on == (b.id,)


def test_fan_in_waits_for_all_five(client: Client, worker: Running) -> None:
    parts = [client.enqueue("d:step", {"name": f"p{i}", "sleep": 0.05 * i}) for i in range(5)]
    last = client.enqueue("d:step", {"name": "last"}, depends_on=[p.id for p in parts])
    assert client.wait(last.id, timeout=10) == "last"
    assert max(TIMES[f"p{i}"][1] for i in range(5)) <= TIMES["last"][0]


def test_a_dependency_already_completed_is_met(client: Client, worker: Running) -> None:
    a = client.enqueue("d:step", {"name": "a"})
    client.wait(a.id, timeout=10)
    b = client.enqueue("d:step", {"name": "b"}, depends_on=[a.id])
    assert b.state == "pending"  # the enqueue says where it went, not "waiting"
    assert client.wait(b.id, timeout=10) == "b"
    later = client.enqueue("d:step", {"name": "c"}, depends_on=[a.id], process_in=60)
    assert later.state == "scheduled" == state(client, later.id)


def test_waiting_tasks_are_not_fetched_and_hold_no_slot(client: Client) -> None:
    a = client.enqueue("d:step", {"name": "a"})  # no worker: a stays pending
    b = client.enqueue("d:step", {"name": "b"}, depends_on=[a.id])
    stats = client.broker.reader.queue_stats("default")
    assert (stats.pending, stats.waiting) == (1, 1)
    assert state(client, b.id) == "waiting"
    assert client.broker.reader.list_ids("default", "waiting", 0, 10) == [b.id]


def test_an_archived_dependency_archives_the_chain(client: Client, worker: Running) -> None:
    a = client.enqueue("d:fail", {"name": "a"})
    b = client.enqueue("d:step", {"name": "b"}, depends_on=[a.id])
    c = client.enqueue("d:step", {"name": "c"}, depends_on=[b.id])
    with pytest.raises(bingo.TaskFailed, match=f"dependency {b.id} was archived"):
        client.wait(c.id, timeout=10)
    info = client.info(b.id)
    assert info.state == "archived" and info.error == f"dependency {a.id} was archived"
    assert not TIMES
    late = client.enqueue("d:step", {"name": "late"}, depends_on=[a.id])
    assert late.state == state(client, late.id) == "archived"


def test_a_missing_dependency_is_refused_in_one_line(client: Client) -> None:
    a = client.enqueue("d:step", {"name": "a"})
    with pytest.raises(bingo.DependencyError) as caught:
        client.enqueue("d:step", {"name": "b"}, depends_on=[a.id, "nope"])
    assert str(caught.value) == (
        "depends_on: no task 'nope' in queue 'default' (a dependency must exist; one of "
        "another queue is given as the TaskInfo its enqueue returned)"
    )
    other = client.enqueue("d:step", {"name": "x"}, queue="other")
    with pytest.raises(bingo.DependencyError, match=other.id):
        client.enqueue("d:step", {"name": "b"}, depends_on=[other.id])
    with pytest.raises(bingo.OptionError, match="expected a list of task ids"):
        client.enqueue("d:step", {"name": "b"}, depends_on=a.id)
    assert client.broker.reader.queue_stats("default").size == 1


def test_enqueue_many_with_depends_on(client: Client, worker: Running) -> None:
    first = client.enqueue("d:step", {"name": "first", "sleep": 0.1})
    ids = client.enqueue_many(
        [
            ("d:step", {"name": "plain"}),
            ("d:step", {"name": "second"}, {"depends_on": [first.id], "task_id": "second"}),
            ("d:step", {"name": "third"}, {"depends_on": ["second"]}),
        ]
    )
    assert ids[1] == "second"
    assert client.wait(ids[2], timeout=10) == "third"
    assert TIMES["first"][1] <= TIMES["second"][0] and TIMES["second"][1] <= TIMES["third"][0]
    with pytest.raises(BulkEnqueueError, match="no task 'gone'"):
        client.enqueue_many([("d:step", {"name": "x"}, {"depends_on": ["gone"]})])


def test_cancel_or_delete_a_waiting_task_cleans_its_links(
    client: Client, redis_client: redis.Redis, bingo_settings: Any, registry: Any
) -> None:
    a = client.enqueue("d:step", {"name": "a"})  # pending: no worker yet
    b = client.enqueue("d:step", {"name": "b"}, depends_on=[a.id])
    c = client.enqueue("d:step", {"name": "c"}, depends_on=[a.id])
    assert redis_client.smembers(f"bingo:{{default}}:dependents:{a.id}") == {b.id, c.id}
    client.app.inspector.cancel(b.id, by="the test")
    assert client.info(b.id).error == "cancelled by the test while it waited for its dependencies"
    client.app.inspector.act("delete", c.id)
    assert not redis_client.exists(f"bingo:{{default}}:dependents:{a.id}")
    assert client.broker.reader.queue_stats("default").waiting == 0
    d = client.enqueue("d:step", {"name": "d"}, depends_on=[a.id])
    client.app.inspector.cancel(a.id, by="the test")
    assert client.info(d.id).error == f"dependency {a.id} was cancelled"


def test_an_asynq_queue_refuses_depends_on(
    bingo_settings_factory: Any, registry: tuple[Registry, PluginManager]
) -> None:
    settings = bingo_settings_factory(asynq={"queues": {"legacy": 1}})
    with Client(settings, registry=registry[0]) as c:
        first = c.enqueue("d:step", {"name": "a"})
        with pytest.raises(bingo.OptionError, match=r"option depends_on: an asynq\.queues queue"):
            c.enqueue("d:step", {"name": "b"}, queue="legacy", depends_on=[first.id])


def test_async_client_takes_depends_on(
    bingo_settings: Any, registry: tuple[Registry, PluginManager], client: Client
) -> None:
    first = client.enqueue("d:step", {"name": "a"})

    async def main() -> tuple[str, str]:
        aclient = bingo.AsyncClient(bingo_settings, registry=registry[0])
        try:
            info = await aclient.enqueue("d:step", {"name": "b"}, depends_on=[first])
            with pytest.raises(bingo.DependencyError, match="no task 'nope'"):
                await aclient.enqueue("d:step", {"name": "c"}, depends_on=["nope"])
            return info.id, info.state
        finally:
            await aclient.aclose()
            await aclient.broker.close()

    task_id, shown = asyncio.run(main())
    assert shown == "waiting" and state(client, task_id) == "waiting"
    assert client.info(task_id).depends_on == (first.id,)

"""``Client.wait`` / ``AsyncClient.wait`` with a real worker on a real Redis: the result
of a completed task, ``TaskFailed`` for an archived one, the timeout, a task that ended
before the wait began, a deleted or cancelled one, and 100 waiters on one task, which
block in Redis (one BLPOP each) and issue no command while they wait."""

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

GATE = threading.Event()


class Num(BaseModel):
    n: int


async def double(ctx: bingo.TaskContext, payload: Num) -> dict[str, int]:
    return {"n": payload.n * 2}


def gated(ctx: bingo.TaskContext, payload: Num) -> int:
    GATE.wait(10)
    return payload.n


async def refuse(ctx: bingo.TaskContext, payload: Num) -> None:
    raise bingo.SkipRetry(f"no thanks\nsecond line {payload.n}")


class Plugin:
    @bingo.hookimpl
    def bingo_register_tasks(self, register: TaskRegister) -> None:
        register("w:double", double, payload=Num, retention=60)
        register("w:forget", double, payload=Num)
        register("w:gated", gated, payload=Num, retention=60)
        register("w:refuse", refuse, payload=Num)


@pytest.fixture
def registry() -> tuple[Registry, PluginManager]:
    manager = PluginManager()
    manager.add(Plugin(), "waitplugin")
    return manager.collect(), manager


@pytest.fixture
def client(bingo_settings: Any, registry: tuple[Registry, PluginManager]) -> Iterator[Client]:
    c = Client(bingo_settings, registry=registry[0])
    yield c
    c.close()


@pytest.fixture
def worker(bingo_settings: Any, registry: tuple[Registry, PluginManager]) -> Iterator[Running]:
    GATE.clear()
    app = App(bingo_settings, registry=registry[0], manager=registry[1])
    running = Running(app)
    yield running
    GATE.set()
    running.stop()
    app.close()


def waiters(r: redis.Redis, task_id: str) -> int:
    return int(r.hget(f"bingo:{{default}}:t:{task_id}", "waiters") or 0)


def until(check: Any, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.01)


def test_wait_returns_the_result(client: Client, worker: Running) -> None:
    info = client.enqueue("w:double", {"n": 21})
    assert client.wait(info.id, timeout=10) == {"n": 42}
    # sync handler, waited for while it runs
    gated_task = client.enqueue("w:gated", {"n": 7})
    out: list[Any] = []
    t = threading.Thread(target=lambda: out.append(client.wait(gated_task.id, timeout=10)))
    t.start()
    time.sleep(0.2)
    assert not out
    GATE.set()
    t.join(10)
    assert out == [7]


def test_wait_raises_task_failed_naming_the_task_and_its_error(
    client: Client, worker: Running
) -> None:
    info = client.enqueue("w:refuse", {"n": 1})
    with pytest.raises(bingo.TaskFailed) as caught:
        client.wait(info.id, timeout=10)
    text = str(caught.value)
    assert info.id in text and "no thanks" in text and "\n" not in text
    assert caught.value.task_id == info.id and "second line 1" in caught.value.error


def test_wait_times_out_and_the_task_goes_on(client: Client, redis_client: redis.Redis) -> None:
    info = client.enqueue("w:double", {"n": 1})  # no worker runs
    started = time.monotonic()
    with pytest.raises(TimeoutError) as caught:
        client.wait(info.id, timeout=0.3)
    took = time.monotonic() - started
    assert 0.3 <= took < 1.5
    assert isinstance(caught.value, bingo.WaitTimeout) and info.id in str(caught.value)
    assert client.broker.reader.get_task("default", info.id).state == "pending"


def test_a_task_that_ended_before_the_wait(
    client: Client, worker: Running, redis_client: redis.Redis
) -> None:
    kept = client.enqueue("w:double", {"n": 5})
    forgotten = client.enqueue("w:forget", {"n": 5})
    until(lambda: client.broker.reader.queue_stats("default").completed == 1)
    until(lambda: not redis_client.exists(f"bingo:{{default}}:t:{forgotten.id}"))
    assert client.wait(kept.id, timeout=0) == {"n": 10}
    assert client.wait(kept.id, queue="default") == {"n": 10}
    with pytest.raises(bingo.TaskNotFound, match="retention"):
        client.wait(forgotten.id, timeout=1)
    with pytest.raises(bingo.TaskNotFound, match="no task 'nope' in "):
        client.wait("nope", timeout=1)


def test_a_task_keeping_no_result_gives_none_to_those_waiting(
    client: Client, redis_client: redis.Redis, bingo_settings: Any, registry: Any
) -> None:
    info = client.enqueue("w:forget", {"n": 5})
    out: list[Any] = []
    t = threading.Thread(target=lambda: out.append(client.wait(info.id, timeout=10)))
    t.start()
    until(lambda: waiters(redis_client, info.id) == 1)
    app = App(bingo_settings, registry=registry[0], manager=registry[1])
    running = Running(app)
    try:
        t.join(10)
    finally:
        running.stop()
        app.close()
    assert out == [None]
    assert not redis_client.exists(f"bingo:{{default}}:t:{info.id}")
    assert not redis_client.exists(f"bingo:{{default}}:wake:{info.id}")  # its one token taken


def test_deleted_or_cancelled_while_waited_for(client: Client, redis_client: redis.Redis) -> None:
    gone = client.enqueue("w:double", {"n": 1})
    stopped = client.enqueue("w:double", {"n": 2})
    errors: dict[str, BaseException] = {}

    def wait(task_id: str) -> None:
        try:
            client.wait(task_id, timeout=10)
        except BaseException as exc:
            errors[task_id] = exc

    threads = [threading.Thread(target=wait, args=(t.id,)) for t in (gone, stopped)]
    for t in threads:
        t.start()
    until(lambda: waiters(redis_client, gone.id) == waiters(redis_client, stopped.id) == 1)
    started = time.monotonic()
    client.app.inspector.act("delete", gone.id)
    client.app.inspector.cancel(stopped.id, by="a test")
    for t in threads:
        t.join(10)
    assert time.monotonic() - started < 1
    assert isinstance(errors[gone.id], bingo.TaskNotFound)
    assert "deleted while waited for" in str(errors[gone.id])
    assert isinstance(errors[stopped.id], bingo.TaskFailed)
    assert "cancelled by a test" in str(errors[stopped.id])


def test_bad_timeout_is_one_line(client: Client) -> None:
    info = client.enqueue("w:double", {"n": 1})
    with pytest.raises(bingo.UsageError, match="timeout must not be negative"):
        client.wait(info.id, timeout=-1)
    with pytest.raises(bingo.UsageError, match="number of seconds"):
        client.wait(info.id, timeout="soon")  # type: ignore[arg-type]


def _calls(r: redis.Redis, command: str) -> int:
    stats = r.info("commandstats").get(f"cmdstat_{command}", {})
    return int(stats.get("calls", 0))


def in_blpop(r: redis.Redis) -> list[Any]:
    """The clients blocked in BLPOP now."""
    return [c for c in r.client_list() if c["cmd"] == "blpop"]


def test_100_waiters_block_in_redis_and_all_get_the_result(
    bingo_settings: Any, registry: Any, redis_client: redis.Redis
) -> None:
    async def main() -> list[Any]:
        app = App(bingo_settings, registry=registry[0], manager=registry[1])
        client = AsyncClient(app=app)
        try:
            info = await client.enqueue("w:double", {"n": 50})
            tasks = [asyncio.create_task(client.wait(info.id, timeout=20)) for _ in range(100)]
            await asyncio.to_thread(until, lambda: waiters(redis_client, info.id) == 100)
            # Each waiter opens its own connection first: on a loaded machine the last
            # ones reach their BLPOP a while after they are counted.
            await asyncio.to_thread(until, lambda: len(in_blpop(redis_client)) == 100, 15)
            await asyncio.sleep(0.2)
            before = {c: _calls(redis_client, c) for c in ("blpop", "evalsha")}
            await asyncio.sleep(1.0)
            after = {c: _calls(redis_client, c) for c in ("blpop", "evalsha")}
            assert after == before  # no command at all while they wait
            assert redis_client.client_list(_type="normal")
            assert len(in_blpop(redis_client)) == 100
            worker_app = App(bingo_settings, registry=registry[0], manager=registry[1])
            running = await asyncio.to_thread(Running, worker_app)
            try:
                return await asyncio.wait_for(asyncio.gather(*tasks), 15)
            finally:
                await asyncio.to_thread(running.stop)
                worker_app.close()
        finally:
            await client.aclose()
            await app.aclose()
            app.close()

    assert asyncio.run(main()) == [{"n": 100}] * 100

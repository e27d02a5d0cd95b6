"""``enqueue_deps.lua`` and the dependents part of ``_wake.lua`` on a real Redis, called
through the client and the brokers (no worker): what a new task with dependencies becomes
for each state of a dependency, the release at the last completion (to pending, or to
scheduled at its own time), a deleted dependency, and a key of the wrong type."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import redis

from bingo_core import Client
from bingo_core.app import App
from bingo_core.registry import Registry, TaskRegister

Q = "bingo:{default}"


async def handle(ctx: Any, payload: Any) -> None:
    return None


@pytest.fixture
def registry() -> Registry:
    registry = Registry()
    TaskRegister(registry, "t")("t:x", handle)
    return registry


@pytest.fixture
def client(bingo_settings: Any, registry: Registry) -> Any:
    c = Client(bingo_settings, registry=registry)
    yield c
    c.close()


def complete(app: App, ids: list[str], keep: float = 0.0) -> None:
    """Lease ``ids`` (the head of pending) and ack them, as a worker does."""

    async def run() -> None:
        broker = app.async_broker()
        try:
            fetched = await broker.fetch("default", len(ids), time.time() + 60, "w")
            assert sorted(t.id for t in fetched.leased) == sorted(ids)
            assert await broker.ack("default", [(i, keep, "", "") for i in ids], "w") == []
        finally:
            await broker.close()

    asyncio.run(run())


def fields(r: redis.Redis, task_id: str, *names: str) -> list[Any]:
    return list(r.hmget(f"{Q}:t:{task_id}", *names))


def test_what_a_new_task_becomes(
    client: Any, redis_client: redis.Redis, bingo_settings: Any, registry: Registry
) -> None:
    app = App(bingo_settings, registry=registry)
    try:
        done = client.enqueue("t:x", {}).id
        complete(app, [done], keep=60)
        assert client.info(done).state == "completed"
        met = client.enqueue("t:x", {}, depends_on=[done]).id
        assert fields(redis_client, met, "state", "depends_on") == ["pending", done]
        open_ = client.enqueue("t:x", {}).id
        waits = client.enqueue("t:x", {}, depends_on=[done, open_]).id
        assert fields(redis_client, waits, "state", "deps_open") == ["waiting", "1"]
        assert redis_client.smembers(f"{Q}:dependents:{open_}") == {waits}
        assert fields(redis_client, open_, "dependents") == ["1"]
        assert redis_client.zscore(f"{Q}:waiting", waits) is not None
        client.app.inspector.act("archive", open_)
        late = client.enqueue("t:x", {}, depends_on=[open_]).id
        for task_id in (waits, late):
            assert fields(redis_client, task_id, "state", "error") == [
                "archived",
                f"dependency {open_} was archived",
            ]
        assert not redis_client.exists(f"{Q}:waiting")
    finally:
        app.close()


def test_the_last_completion_releases_the_task(
    client: Any, redis_client: redis.Redis, bingo_settings: Any, registry: Registry
) -> None:
    app = App(bingo_settings, registry=registry)
    try:
        a, b = client.enqueue("t:x", {}).id, client.enqueue("t:x", {}).id
        now_task = client.enqueue("t:x", {}, depends_on=[a, b]).id
        later = client.enqueue("t:x", {}, depends_on=[a], process_in=3600).id
        redis_client.delete(f"{Q}:notify")
        complete(app, [a])
        assert fields(redis_client, now_task, "state", "deps_open") == ["waiting", "1"]
        assert fields(redis_client, later, "state") == ["scheduled"]
        assert redis_client.zscore(f"{Q}:scheduled", later) == pytest.approx(time.time() + 3600, 5)
        complete(app, [b])
        assert fields(redis_client, now_task, "state", "deps_open") == ["pending", None]
        assert redis_client.lrange(f"{Q}:pending", 0, -1) == [now_task]
        assert redis_client.llen(f"{Q}:notify") == 1  # an idle worker is woken
        assert not redis_client.exists(f"{Q}:waiting", f"{Q}:dependents:{a}", f"{Q}:dependents:{b}")
    finally:
        app.close()


def test_a_deleted_dependency_archives_its_dependents(
    client: Any, redis_client: redis.Redis
) -> None:
    a = client.enqueue("t:x", {}).id
    b = client.enqueue("t:x", {}, depends_on=[a]).id
    c = client.enqueue("t:x", {}, depends_on=[b]).id
    client.app.inspector.act("delete", a)
    assert fields(redis_client, b, "error") == [f"dependency {a} was deleted"]
    assert fields(redis_client, c, "state", "error") == ["archived", f"dependency {b} was archived"]
    assert redis_client.zcard(f"{Q}:archived") == 2


def test_a_waiting_key_of_the_wrong_type_fails_before_any_write(
    client: Any, redis_client: redis.Redis
) -> None:
    a = client.enqueue("t:x", {}).id
    redis_client.set(f"{Q}:waiting", "x")
    with pytest.raises(Exception, match=r"WRONGTYPE key bingo:\{default\}:waiting holds a string"):
        client.enqueue("t:x", {}, depends_on=[a], task_id="new")
    assert not redis_client.exists(f"{Q}:t:new", f"{Q}:dependents:{a}")
    redis_client.delete(f"{Q}:waiting")
    redis_client.set(f"{Q}:dependents:{a}", "x")
    with pytest.raises(Exception, match=rf"WRONGTYPE key bingo:\{{default\}}:dependents:{a} holds"):
        client.enqueue("t:x", {}, depends_on=[a], task_id="new")
    assert not redis_client.exists(f"{Q}:t:new", f"{Q}:waiting")
    assert redis_client.hget(f"{Q}:t:{a}", "dependents") is None


def test_a_dependency_recovered_after_a_lost_worker_still_holds_its_dependents(
    client: Any, redis_client: redis.Redis, bingo_settings: Any, registry: Registry
) -> None:
    app = App(bingo_settings, registry=registry)
    try:
        a = client.enqueue("t:x", {}, max_retry=1).id
        b = client.enqueue("t:x", {}, depends_on=[a]).id

        async def lose_then_recover() -> None:
            broker = app.async_broker()
            try:
                await broker.fetch("default", 1, time.time() - 1, "dead")  # lease already over
                assert (await broker.recover("default", "worker lost")).requeued == 1
            finally:
                await broker.close()

        asyncio.run(lose_then_recover())
        assert fields(redis_client, a, "state") == ["pending"]
        assert fields(redis_client, b, "state", "deps_open") == ["waiting", "1"]
        complete(app, [a])
        assert fields(redis_client, b, "state") == ["pending"]
    finally:
        app.close()


def test_a_dependency_archived_by_the_recoverer_archives_its_dependents(
    client: Any, redis_client: redis.Redis, bingo_settings: Any, registry: Registry
) -> None:
    app = App(bingo_settings, registry=registry)
    try:
        a = client.enqueue("t:x", {}, max_retry=0).id
        b = client.enqueue("t:x", {}, depends_on=[a]).id

        async def lose_then_recover() -> None:
            broker = app.async_broker()
            try:
                await broker.fetch("default", 1, time.time() - 1, "dead")
                assert (await broker.recover("default", "worker lost")).archived == 1
            finally:
                await broker.close()

        asyncio.run(lose_then_recover())
        assert fields(redis_client, b, "state", "error") == [
            "archived",
            f"dependency {a} was archived",
        ]
    finally:
        app.close()

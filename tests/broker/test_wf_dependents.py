"""A workflow step that one step waits for (a group's member, a chain's step) holds that
step's id in its hash (``dependents`` = ``=<id>``) instead of a dependents set, and a step
waiting for one task has no ``deps_open``; on a real Redis, through the client and the
brokers (no worker): the release, a completed member deleted by hand, and a task enqueued
later with ``depends_on`` on such a step (both go to the set); and the workflow's one
packed call (``Broker.enqueue_workflow``) after Redis lost its scripts or on a key of the
wrong type."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import redis

import bingo_core as bingo
from bingo_core import Client
from bingo_core.app import App
from bingo_core.errors import MalformedKey
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


def complete(app: App, n: int) -> list[str]:
    """Lease the ``n`` tasks at the head of pending and ack them, as a worker does."""

    async def run() -> list[str]:
        broker = app.async_broker()
        try:
            fetched = await broker.fetch("default", n, time.time() + 60, "w")
            ids = [t.id for t in fetched.leased]
            assert len(ids) == n
            assert await broker.ack("default", [(i, 0.001, "", '"r"') for i in ids], "w") == []
            return ids
        finally:
            await broker.close()

    return asyncio.run(run())


def fields(r: redis.Redis, task_id: str, *names: str) -> list[Any]:
    return list(r.hmget(f"{Q}:t:{task_id}", *names))


def sets(r: redis.Redis) -> list[str]:
    return sorted(k for k in r.keys(f"{Q}:dependents:*"))


def test_a_member_holds_its_one_dependent_and_the_chord_step_waits_for_all(
    client: Any, redis_client: redis.Redis, bingo_settings: Any, registry: Registry
) -> None:
    app = App(bingo_settings, registry=registry)
    try:
        x = bingo.step("t:x")
        wf = client.enqueue_workflow(bingo.chain(x, bingo.group(x, x), x))
        a, m1, m2, c = wf.task_ids
        assert fields(redis_client, a, "dependents") == ["1"]
        assert redis_client.smembers(f"{Q}:dependents:{a}") == {m1, m2}
        for m in (m1, m2):
            assert fields(redis_client, m, "dependents", "state", "deps_open") == [
                f"={c}",
                "waiting",
                None,
            ]
            assert client.info(m).deps_open == 1  # shown as its one open dependency
        assert sets(redis_client) == [f"{Q}:dependents:{a}"]
        assert fields(redis_client, c, "deps_open") == ["2"]
        assert complete(app, 1) == [a]
        assert fields(redis_client, m1, "state", "deps_open") == ["pending", None]
        assert sets(redis_client) == []
        first = complete(app, 1)[0]
        assert fields(redis_client, c, "state", "deps_open") == ["waiting", "1"]
        # a completed member deleted by hand has done its part: the chord step still waits
        client.broker.task_move("default", first, "delete")
        assert fields(redis_client, c, "state", "deps_open") == ["waiting", "1"]
        assert redis_client.hget(f"{Q}:wf:{wf.id}", "state") == "running"
        assert complete(app, 1) == [m2 if first == m1 else m1]
        assert fields(redis_client, c, "state", "deps_open") == ["pending", None]
        assert complete(app, 1) == [c]
        assert redis_client.hget(f"{Q}:wf:{wf.id}", "state") == "completed"
    finally:
        app.close()


def test_a_completed_member_archived_by_hand_fails_the_workflow_not_its_dependent(
    client: Any, redis_client: redis.Redis, bingo_settings: Any, registry: Registry
) -> None:
    app = App(bingo_settings, registry=registry)
    try:
        x = bingo.step("t:x")
        wf = client.enqueue_workflow(bingo.chain(x, bingo.group(x, x), x))
        c = wf.task_ids[3]
        complete(app, 1)
        first = complete(app, 1)[0]
        assert fields(redis_client, first, "state", "dependents") == ["completed", f"={c}"]
        client.broker.task_move("default", first, "archive")
        # (its dependent had its result: it is archived by the failure, not as its dependent)
        assert fields(redis_client, c, "state", "error", "wf_held") == [
            "archived",
            f"workflow {wf.id} failed: step {first} was archived",
            "1",
        ]
        assert redis_client.hget(f"{Q}:wf:{wf.id}", "state") == "failed"
    finally:
        app.close()


def test_a_task_enqueued_after_the_one_dependent_joins_it_in_the_set(
    client: Any, redis_client: redis.Redis, bingo_settings: Any, registry: Registry
) -> None:
    app = App(bingo_settings, registry=registry)
    try:
        x = bingo.step("t:x")
        wf = client.enqueue_workflow(bingo.chain(x, x, x))
        a, b, c = wf.task_ids
        assert fields(redis_client, b, "dependents") == [f"={c}"]
        later = client.enqueue("t:x", {}, depends_on=[b]).id
        assert fields(redis_client, b, "dependents") == ["1"]
        assert redis_client.smembers(f"{Q}:dependents:{b}") == {c, later}
        assert complete(app, 1) == [a]
        assert complete(app, 1) == [b]
        assert fields(redis_client, c, "state") == ["pending"]
        assert fields(redis_client, later, "state") == ["pending"]
        assert sets(redis_client) == []
        assert sorted(complete(app, 2)) == sorted([c, later])
        assert redis_client.hget(f"{Q}:wf:{wf.id}", "state") == "completed"
    finally:
        app.close()


def test_a_workflow_is_written_after_redis_lost_its_scripts_and_a_bad_key_is_named(
    client: Any, redis_client: redis.Redis
) -> None:
    x = bingo.step("t:x")
    first = client.enqueue_workflow(bingo.chain(x, x))
    loads = int(redis_client.info("commandstats").get("cmdstat_script|load", {}).get("calls", 0))
    redis_client.script_flush()
    second = client.enqueue_workflow(bingo.chain(x, x))
    stats = redis_client.info("commandstats")
    assert int(stats["cmdstat_script|load"]["calls"]) > loads
    for wf in (first, second):
        assert redis_client.hget(f"{Q}:wf:{wf.id}", "state") == "running"
        assert fields(redis_client, wf.task_ids[1], "state") == ["waiting"]
    assert redis_client.smembers("bingo:queues") == {"default"}
    redis_client.set(f"{Q}:waiting", "x")
    with pytest.raises(MalformedKey, match=rf"^key {Q}:waiting holds a string, expected a zset$"):
        client.enqueue_workflow(bingo.chain(x, x))
    redis_client.delete(f"{Q}:waiting")
    third = client.enqueue_workflow(bingo.chain(x, x))  # the connection is still usable
    assert fields(redis_client, third.task_ids[1], "state") == ["waiting"]
    assert not client.broker.redis.connection_pool._in_use_connections

"""``task_cancel.lua`` through ``Broker.task_cancel`` on a real Redis."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bingo_core import Client
from bingo_core.errors import MalformedKey
from bingo_core.records import Move
from bingo_core.registry import Registry, TaskRegister

Q = "bingo:{default}"


async def handle(ctx: Any, payload: Any) -> None:
    return None


@pytest.fixture
def client(bingo_settings: Any) -> Any:
    registry = Registry()
    TaskRegister(registry, "t")("t:x", handle)
    c = Client(bingo_settings, registry=registry)
    yield c
    c.close()


def test_waiting_tasks_are_archived_at_once(client: Any, redis_client: Any) -> None:
    pending = client.enqueue("t:x", {}).id
    scheduled = client.enqueue("t:x", {}, process_in=60).id
    retry = client.enqueue("t:x", {}, process_in=60).id
    redis_client.zrem(f"{Q}:scheduled", retry)
    redis_client.zadd(f"{Q}:retry", {retry: time.time() + 60})
    redis_client.hset(f"{Q}:t:{retry}", mapping={"state": "retry", "error": "boom"})
    for task_id, when in (
        (pending, "while it was pending"),
        (scheduled, "before its scheduled time"),
        (retry, "while it waited for a retry"),
    ):
        assert client.broker.task_cancel("default", task_id, "the CLI") is Move.DONE
        task = redis_client.hgetall(f"{Q}:t:{task_id}")
        assert task["state"] == "archived" and task["error"] == f"cancelled by the CLI {when}"
        assert redis_client.zscore(f"{Q}:archived", task_id) is not None
    assert redis_client.llen(f"{Q}:pending") == 0
    assert redis_client.zcard(f"{Q}:scheduled") == redis_client.zcard(f"{Q}:retry") == 0
    assert redis_client.zcard(f"{Q}:cancel") == 0
    # archived already; no such task
    assert client.broker.task_cancel("default", pending, "the CLI") is Move.ALREADY
    assert client.broker.task_cancel("default", "nosuch", "the CLI") is Move.MISSING


def test_an_active_task_gets_a_request_naming_who_asked(client: Any, redis_client: Any) -> None:
    task_id = client.enqueue("t:x", {}).id
    redis_client.lrem(f"{Q}:pending", 0, task_id)
    redis_client.zadd(f"{Q}:lease", {task_id: time.time() + 30})
    redis_client.hset(f"{Q}:t:{task_id}", "state", "active")
    assert client.broker.task_cancel("default", task_id, "the dashboard") is Move.ASKED
    assert redis_client.zscore(f"{Q}:cancel", task_id) is not None
    assert redis_client.hget(f"{Q}:t:{task_id}", "cancel_by") == "the dashboard"
    assert redis_client.hget(f"{Q}:t:{task_id}", "state") == "active"


def test_a_key_of_the_wrong_type_is_named_and_nothing_written(
    client: Any, redis_client: Any
) -> None:
    task_id = client.enqueue("t:x", {}).id
    redis_client.set(f"{Q}:archived", "not a zset")
    with pytest.raises(MalformedKey, match=r"key bingo:\{default\}:archived holds a string"):
        client.broker.task_cancel("default", task_id, "the CLI")
    assert redis_client.hget(f"{Q}:t:{task_id}", "state") == "pending"
    assert redis_client.lrange(f"{Q}:pending", 0, -1) == [task_id]

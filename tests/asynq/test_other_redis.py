"""``asynq.redis``: the Asynq queues on another Redis (the Go services' one) than
Bingo's own queues; enqueue, serve, read and pause all go there."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from bingo_core import Client
from bingo_core.app import App
from bingo_core.errors import ServiceUnavailable
from bingo_core.registry import Registry, TaskRegister
from bingo_core.testing import RedisServer
from bingo_core.worker import Worker

DONE: list[str] = []


async def ok(ctx: Any, payload: Any) -> None:
    DONE.append(ctx.task_id)


@pytest.fixture(scope="module")
def go_redis() -> Iterator[RedisServer]:
    """A second private redis-server: the one Go services use."""
    server = RedisServer()
    server.start()
    yield server
    server.remove()


@pytest.fixture
def theirs(go_redis: RedisServer) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(go_redis.url)
    c.flushall()
    yield c
    c.close()


def _registry() -> Registry:
    registry = Registry()
    TaskRegister(registry, "t")("job:ping", ok)
    return registry


def test_asynq_queues_live_on_their_own_redis(
    bingo_settings_factory: Any, go_redis: RedisServer, theirs: redis.Redis, redis_url: str
) -> None:
    DONE.clear()
    settings = bingo_settings_factory(
        asynq={"queues": {"legacy": 1}, "redis": {"url": go_redis.url}},
        worker={"queues": {"mine": 1}},
    )
    with Client(settings, registry=_registry()) as client:
        a = client.enqueue("job:ping", {"n": 1}, queue="legacy")
        b = client.enqueue("job:ping", {"n": 2}, queue="mine")
        stats = {s.queue: s for s in client.app.inspector.stats()}
        assert stats["legacy"].pending == 1 and stats["legacy"].layout == "asynq"
        assert client.app.inspector.tasks("legacy", "pending")[0].payload == {"n": 1}
        client.app.inspector.pause("legacy")
        assert theirs.exists("asynq:{legacy}:paused")
        client.app.inspector.resume("legacy")
    ours = redis.Redis.from_url(redis_url)
    try:
        assert theirs.lrange("asynq:{legacy}:pending", 0, -1) == [a.id.encode()]
        assert not ours.keys("asynq:*")  # nothing of Asynq's on Bingo's Redis
        assert ours.lrange("bingo:{mine}:pending", 0, -1) == [b.id.encode()]

        async def serve() -> None:
            app = App(settings, registry=_registry())
            stop = asyncio.Event()
            task = asyncio.create_task(Worker(app).run(stop))
            deadline = time.monotonic() + 10
            while len(DONE) < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            stop.set()
            await task
            await app.aclose()

        asyncio.run(serve())
        assert sorted(DONE) == sorted([a.id, b.id])
        assert theirs.get("asynq:{legacy}:processed") == b"1"
        assert not theirs.exists("asynq:{legacy}:t:" + a.id)
        assert not ours.keys("asynq:*")
    finally:
        ours.close()


def test_their_redis_down_is_one_line_naming_it(bingo_settings_factory: Any) -> None:
    settings = bingo_settings_factory(
        asynq={"queues": {"legacy": 1}, "redis": {"host": "127.0.0.1:1"}},
        worker={"queues": {"mine": 1}},
    )
    with Client(settings, registry=_registry()) as client:
        with pytest.raises(ServiceUnavailable) as info:
            client.enqueue("job:ping", {}, queue="legacy")
        assert "127.0.0.1:1" in str(info.value) and "\n" not in str(info.value)
        with pytest.raises(ServiceUnavailable, match=r"127\.0\.0\.1:1"):
            client.app.inspector.stats(["legacy"])
        client.enqueue("job:ping", {}, queue="mine")  # Bingo's own queues go on

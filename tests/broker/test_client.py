"""Client and broker through a real Redis: enqueue, refusal, unique, ids, delays, bulk."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from pydantic import BaseModel

from bingo_core import Client
from bingo_core.errors import (
    DuplicateTaskError,
    OptionError,
    PayloadError,
    UniqueTaskError,
    UnknownTaskType,
)
from bingo_core.registry import Registry, TaskRegister


class Report(BaseModel):
    date: str = "today"
    pages: int = 1


async def handle(ctx: Any, payload: Report) -> None:
    return None


@pytest.fixture
def client(bingo_settings: Any) -> Any:
    registry = Registry()
    register = TaskRegister(registry, "t")
    register("task:report", handle, payload=Report, max_retry=3, timeout=20)
    register("task:low", handle, queue="low")
    c = Client(bingo_settings, registry=registry)
    yield c
    c.close()


def test_enqueue_stores_pending_task(client: Any, redis_client: Any) -> None:
    info = client.enqueue("task:report", {"date": "2026-01-02"})
    assert info.state == "pending" and info.queue == "default" and info.max_retry == 3
    assert redis_client.lrange("bingo:{default}:pending", 0, -1) == [info.id]
    stored = client.broker.reader.get_task("default", info.id)
    assert stored.payload == {"date": "2026-01-02", "pages": 1}
    assert stored.timeout == 20 and stored.state == "pending"
    assert "default" in redis_client.smembers("bingo:queues")


@pytest.mark.parametrize(
    ("task_type", "payload", "options", "error"),
    [
        ("task:report", {"pages": "many"}, {}, PayloadError),
        ("task:report", {"date": 5}, {}, PayloadError),
        ("task:nope", {}, {}, UnknownTaskType),
        ("task:report", {}, {"max_retry": -1}, OptionError),
        ("task:report", {}, {"timeout": "soon"}, OptionError),
        ("task:report", {}, {"colour": "red"}, OptionError),
        ("task:report", {}, {"process_at": "tomorrow"}, OptionError),
    ],
)
def test_refused_before_anything_is_written(
    client: Any, redis_client: Any, task_type: str, payload: Any, options: Any, error: type
) -> None:
    with pytest.raises(error) as exc:
        client.enqueue(task_type, payload, **options)
    assert "\n" not in str(exc.value)
    assert redis_client.dbsize() == 0


def test_payload_error_names_the_field(client: Any) -> None:
    with pytest.raises(PayloadError, match=r"pages: .*integer.*\(got \"many\"\)"):
        client.enqueue("task:report", {"pages": "many"})


def test_custom_id_duplicate_refused(client: Any) -> None:
    client.enqueue("task:report", {}, task_id="report-1")
    with pytest.raises(DuplicateTaskError, match="report-1"):
        client.enqueue("task:report", {}, task_id="report-1")


def test_unique_lock(client: Any, redis_client: Any) -> None:
    client.enqueue("task:report", {"date": "x"}, unique=60)
    with pytest.raises(UniqueTaskError):
        client.enqueue("task:report", {"date": "x"}, unique=60)
    client.enqueue("task:report", {"date": "y"}, unique=60)  # other payload: fine
    client.enqueue("task:report", {"date": "x"}, unique=60, queue="other")  # other queue
    keys = redis_client.keys("bingo:{default}:unique:*")
    assert len(keys) == 2 and 59_000 < redis_client.pttl(keys[0]) <= 60_000


def test_delayed_task_is_scheduled(client: Any, redis_client: Any) -> None:
    before = time.time()
    info = client.enqueue("task:report", {}, process_in=30)
    assert info.state == "scheduled"
    score = redis_client.zscore("bingo:{default}:scheduled", info.id)
    assert before + 29 < score < time.time() + 31
    at = client.enqueue("task:report", {}, process_at="2099-01-01T00:00:00+00:00")
    assert redis_client.zscore("bingo:{default}:scheduled", at.id) == 4070908800.0


def test_type_default_queue(client: Any, redis_client: Any) -> None:
    info = client.enqueue("task:low", {})
    assert info.queue == "low"
    assert redis_client.llen("bingo:{low}:pending") == 1


def test_enqueue_many(client: Any, redis_client: Any) -> None:
    items: list[Any] = [("task:report", {"pages": i}) for i in range(2500)]
    items.append(("task:low", {}))
    items.append(("task:report", {}, {"task_id": "own-id"}))
    ids = client.enqueue_many(items)
    assert len(ids) == len(set(ids)) == 2502 and ids[-1] == "own-id"
    # Generated ids: 128 random bits as 32 hex digits, through every chunk.
    assert all(len(i) == 32 and set(i) <= set("0123456789abcdef") for i in ids[:-1])
    assert redis_client.llen("bingo:{default}:pending") == 2501
    assert redis_client.llen("bingo:{low}:pending") == 1
    # FIFO: the head of the list (RPOP end) is the first item.
    assert redis_client.lindex("bingo:{default}:pending", -1) == ids[0]
    assert client.broker.reader.get_task("default", ids[7]).payload == {"date": "today", "pages": 7}


def test_enqueue_many_reports_refused_items(client: Any, redis_client: Any) -> None:
    from bingo_core.errors import BulkEnqueueError

    with pytest.raises(BulkEnqueueError, match=r"1 of 3 task\(s\) refused \(item 2: .*dup") as exc:
        client.enqueue_many(
            [
                ("task:report", {}, {"task_id": "dup"}),
                ("task:report", {}),
                ("task:report", {}, {"task_id": "dup"}),
            ]
        )
    assert list(exc.value.refused) == [2]
    assert redis_client.llen("bingo:{default}:pending") == 2


def test_enqueue_many_validates_all_first(client: Any, redis_client: Any) -> None:
    with pytest.raises(PayloadError):
        client.enqueue_many([("task:report", {}), ("task:report", {"pages": "x"})])
    assert redis_client.dbsize() == 0


def test_redis_down_is_one_line(bingo_settings: Any) -> None:
    from bingo_core.config import load_settings
    from bingo_core.errors import ServiceUnavailable

    settings = load_settings(None, env={}, overrides={"redis.url": "redis://127.0.0.1:1/0"})
    registry = Registry()
    TaskRegister(registry, "t")("task:x", handle)
    c = Client(settings, registry=registry)
    with pytest.raises(ServiceUnavailable, match=r"Redis at 127\.0\.0\.1:1 is not reachable"):
        c.enqueue("task:x", {})


def test_async_client_enqueue(bingo_settings: Any, redis_client: Any) -> None:
    import asyncio

    from bingo_core import AsyncClient
    from bingo_core.broker import AsyncBroker

    registry = Registry()
    TaskRegister(registry, "t")("task:x", handle)

    async def main() -> list[int]:
        broker = AsyncBroker(bingo_settings.redis)
        client = AsyncClient(bingo_settings, registry, broker)
        info = await client.enqueue("task:x", {"a": 1}, queue="q1")
        infos = [await client.enqueue("task:x", {"b": i}) for i in range(3)]
        await broker.close()
        assert info.queue == "q1"
        return [1 for i in infos if i.state == "pending"]

    assert asyncio.run(main()) == [1, 1, 1]
    assert redis_client.llen("bingo:{q1}:pending") == 1
    assert redis_client.llen("bingo:{default}:pending") == 3


def test_enqueue_many_after_script_flush(client: Any, redis_client: Any) -> None:
    client.enqueue_many([("task:report", {})] * 3)
    redis_client.script_flush()
    ids = client.enqueue_many([("task:report", {})] * 3)
    assert len(ids) == 3 and redis_client.llen("bingo:{default}:pending") == 6


def _calls(redis_client: Any) -> dict[str, int]:
    stats = redis_client.info("commandstats")
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}


def test_single_enqueue_is_one_command_on_a_pooled_connection(
    client: Any, redis_client: Any
) -> None:
    client.enqueue("task:report", {})  # the queue is added to P:queues, the scripts loaded
    before = _calls(redis_client)
    infos = [client.enqueue("task:report", {"pages": n}) for n in range(3)]
    sent = {k: v - before.get(k, 0) for k, v in _calls(redis_client).items()}
    assert sent["evalsha"] == 3  # (the commands counted besides run inside the script)
    assert not {k for k, v in sent.items() if v} & {"sadd", "script|load", "script|exists"}
    pool = client.broker.redis.connection_pool
    assert not pool._in_use_connections
    ids = redis_client.lrange("bingo:{default}:pending", 0, -1)
    assert ids[:3] == [i.id for i in reversed(infos)]
    assert client.broker.reader.get_task("default", infos[2].id).payload["pages"] == 2


def test_single_enqueue_after_script_flush(client: Any, redis_client: Any) -> None:
    client.enqueue("task:report", {})
    redis_client.script_flush()
    info = client.enqueue("task:report", {})
    assert redis_client.lindex("bingo:{default}:pending", 0) == info.id
    assert redis_client.llen("bingo:{default}:pending") == 2


@pytest.mark.parametrize("many", [False, True])
@pytest.mark.parametrize("key", ["pending", "notify"])
def test_enqueue_to_a_wrong_type_queue_key_names_it_and_writes_nothing(
    client: Any, redis_client: Any, key: str, many: bool
) -> None:
    first = client.enqueue("task:report", {})
    name = f"bingo:{{default}}:{key}"
    redis_client.delete(name)
    redis_client.set(name, "jam")
    with pytest.raises(Exception, match=rf"WRONGTYPE key {re.escape(name)} holds a string, expec"):
        if many:
            client.enqueue_many([("task:report", {})] * 3)
        else:
            client.enqueue("task:report", {})
    assert redis_client.keys("bingo:{default}:t:*") == [f"bingo:{{default}}:t:{first.id}"]
    assert redis_client.get(name) == "jam"
    redis_client.delete(name)
    info = client.enqueue("task:report", {})  # the connection still answers in step
    assert redis_client.lindex("bingo:{default}:pending", 0) == info.id

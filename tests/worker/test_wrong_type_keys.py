"""Keys of the wrong type met by the worker's and the scheduler's scripts, on a real Redis:
a task key that is not a hash is renamed aside and its id archived (nothing lost), a
pending id with no task record is reported, a queue key of the wrong type fails the call
before anything is written (naming the key), a scheduler key of the wrong type is renamed
aside so the next call works; and a worker skips a broken queue, not the others."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pydantic import BaseModel

import bingo_core as bingo
from bingo_core import Client
from bingo_core.app import App
from bingo_core.broker import AsyncBroker, Broker, scripts
from bingo_core.broker.keys import Keys
from bingo_core.records import FetchResult, Move, RecoverResult
from bingo_core.registry import TaskRegister
from bingo_core.worker import Worker

Q = Keys("bingo").queue("default")
S = Keys("bingo").scheduler
RAN: list[int] = []


class Item(BaseModel):
    n: int


async def record(ctx: bingo.TaskContext, payload: Item) -> None:
    RAN.append(payload.n)


class Plugin:
    @bingo.hookimpl
    def bingo_register_tasks(self, register: TaskRegister) -> None:
        register("t:record", record, payload=Item)


def on_broker(settings: Any, fn: Callable[[AsyncBroker], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        broker = AsyncBroker(settings.redis)
        try:
            return await fn(broker)
        finally:
            await broker.close()

    return asyncio.run(main())


def fetch(settings: Any, n: int = 10) -> FetchResult:
    result: FetchResult = on_broker(
        settings, lambda b: b.fetch("default", n, time.time() + 30, "w1")
    )
    return result


def test_a_task_key_that_is_not_a_hash_is_kept_aside_and_archived(
    bingo_settings: Any, redis_client: Any
) -> None:
    redis_client.rpush(f"{Q.task_prefix}X", "a", "list")
    redis_client.lpush(Q.pending, "X")
    fetched = fetch(bingo_settings)
    assert fetched.leased == []
    ((task_id, reason),) = fetched.unusable
    assert task_id == "X"
    assert f"key {Q.task('X')} held a list, not a task hash" in reason
    assert f"renamed to {Q.base}:malformed:X" in reason
    assert redis_client.lrange(f"{Q.base}:malformed:X", 0, -1) == ["a", "list"]
    assert redis_client.hgetall(Q.task("X"))["state"] == "archived"
    assert redis_client.hget(Q.task("X"), "error") == reason
    assert redis_client.zscore(Q.archived, "X") is not None
    # Twice: the second copy is kept beside the first, never over it.
    redis_client.delete(Q.task("X"))
    redis_client.set(Q.task("X"), "again")
    redis_client.lpush(Q.pending, "X")
    fetch(bingo_settings)
    assert redis_client.get(f"{Q.base}:malformed:X:1") == "again"


def test_a_pending_id_without_record_or_msg_is_reported(
    bingo_settings: Any, redis_client: Any
) -> None:
    redis_client.hset(Q.task("NOMSG"), "state", "pending")
    redis_client.lpush(Q.pending, "GHOST", "NOMSG")
    fetched = fetch(bingo_settings)
    got = dict(fetched.unusable)
    assert fetched.leased == [] and fetched.popped == 2
    assert got["GHOST"] == f"no task record: key {Q.task('GHOST')} does not exist"
    assert got["NOMSG"] == f"malformed: task hash {Q.task('NOMSG')} has no msg field"
    assert redis_client.zscore(Q.archived, "NOMSG") is not None
    assert redis_client.llen(Q.pending) == 0


@pytest.mark.parametrize(
    ("key", "make", "expected"),
    [
        (Q.pending, "string", "list"),
        (Q.lease, "list", "zset"),
        (Q.retry, "string", "zset"),
        (Q.notify, "hash", "list"),
        (Q.throttled, "list", "zset"),
    ],
)
def test_a_queue_key_of_the_wrong_type_fails_the_fetch_naming_it_before_any_write(
    key: str, make: str, expected: str, bingo_settings: Any, redis_client: Any
) -> None:
    client = Client(bingo_settings, registry=_registry())
    try:
        due = client.enqueue("t:record", {"n": 1}, process_in=0.05)
    finally:
        client.close()
    redis_client.delete(key)
    {
        "string": lambda: redis_client.set(key, "x"),
        "list": lambda: redis_client.rpush(key, "x"),
        "hash": lambda: redis_client.hset(key, "x", "y"),
    }[make]()
    time.sleep(0.1)
    before = {k: redis_client.type(k) for k in redis_client.keys("*")}
    with pytest.raises(
        Exception, match=f"WRONGTYPE key {key} holds a {make}, expected a {expected}"
    ):
        fetch(bingo_settings)
    assert {k: redis_client.type(k) for k in redis_client.keys("*")} == before
    assert redis_client.zscore(Q.scheduled, due.id) is not None  # nothing moved


def test_recover_archives_an_expired_lease_whose_task_key_is_broken(
    bingo_settings: Any, redis_client: Any
) -> None:
    past = time.time() - 10
    redis_client.zadd(Q.lease, {"BAD": past, "GONE": past})
    redis_client.set(Q.task("BAD"), "garbage")
    result = on_broker(bingo_settings, lambda b: b.recover("default", "lost"))
    assert result == RecoverResult(malformed=1, missing=1)
    assert redis_client.get(f"{Q.base}:malformed:BAD") == "garbage"
    assert redis_client.zscore(Q.archived, "BAD") is not None
    assert redis_client.zcard(Q.lease) == 0


def test_task_move_on_a_task_key_that_is_not_a_hash(bingo_settings: Any, redis_client: Any) -> None:
    broker = Broker(bingo_settings.redis)
    try:
        for action in ("delete", "archive"):
            redis_client.set(Q.task(action), "garbage")
            redis_client.lpush(Q.pending, action)
            assert broker.task_move("default", action, action) is Move.DONE
        assert redis_client.llen(Q.pending) == 0
        assert not redis_client.exists(Q.task("delete"))
        assert redis_client.hget(Q.task("archive"), "state") == "archived"
        assert redis_client.get(f"{Q.base}:malformed:archive") == "garbage"
        redis_client.set(Q.task("run"), "garbage")
        with pytest.raises(Exception, match="cannot run"):
            broker.task_move("default", "run", "run")
    finally:
        broker.close()


def test_scheduler_keys_of_the_wrong_type_are_renamed_and_the_next_call_works(
    bingo_settings: Any, redis_client: Any
) -> None:
    redis_client.rpush(S.leader, "not a string")
    redis_client.set(S.epoch, "not a number")

    async def twice(broker: AsyncBroker) -> tuple[str, list[Any]]:
        call = scripts.sched_acquire(S, "d1", 2000)
        try:
            await broker.run(call)
        except Exception as exc:
            first = str(exc)
        else:
            pytest.fail("the first call must say what it renamed")
        return first, await broker.run(call)

    first, second = on_broker(bingo_settings, twice)
    assert f"{S.leader} (a list, expected a string) to {S.base}:malformed:leader" in first
    assert f"{S.epoch} (a string, expected an integer) to {S.base}:malformed:epoch" in first
    assert second == [1, 1]
    assert redis_client.get(S.epoch) == "1"
    assert redis_client.get(f"{S.base}:malformed:epoch") == "not a number"


def _registry() -> Any:
    from bingo_core.plugins import PluginManager

    manager = PluginManager()
    manager.add(Plugin(), "badkeys")
    return manager.collect()


def test_a_worker_skips_a_broken_queue_and_serves_the_others(
    bingo_settings: Any, redis_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bingo")
    RAN.clear()
    settings = bingo_settings.model_copy(deep=True)
    settings.worker.queues = {"default": 1, "jam": 1}
    registry = _registry()
    redis_client.set("bingo:{jam}:pending", "not a list")
    client = Client(settings, registry=registry)

    async def main() -> None:
        stop = asyncio.Event()
        app = App(settings, registry=registry)
        worker = Worker(app)
        runner = asyncio.create_task(worker.run(stop))
        for n in range(3):
            await asyncio.to_thread(client.enqueue, "t:record", {"n": n})
            await asyncio.sleep(0.3)
        stop.set()
        await runner
        await app.aclose()

    try:
        asyncio.run(main())
    finally:
        client.close()
    assert sorted(RAN) == [0, 1, 2]
    lines = [r.getMessage() for r in caplog.records if "queue jam" in r.getMessage()]
    fetch_lines = [line for line in lines if "fetch failed" in line]
    assert len(fetch_lines) == 1, lines
    assert "WRONGTYPE key bingo:{jam}:pending holds a string, expected a list" in fetch_lines[0]


def test_task_statistics_of_a_broken_queue_hold_up_no_other(
    bingo_settings: Any, redis_client: Any
) -> None:
    from bingo_core.worker.stats import StatsRecorder

    jam = Keys("bingo").queue("jam")
    redis_client.set(jam.stats_total, "not a hash")

    async def main(broker: AsyncBroker) -> StatsRecorder:
        stats = StatsRecorder(broker)
        stats.observe("default", "t:record", 0.01, True)
        stats.observe("jam", "t:record", 0.02, False)
        with pytest.raises(Exception, match="WRONGTYPE"):
            await stats.flush()
        return stats

    stats = on_broker(bingo_settings, main)
    assert redis_client.hget(Q.stats_total, "t:record|p") == "1"
    assert list(stats._pending) == [("jam", "t:record")]  # kept for the next flush

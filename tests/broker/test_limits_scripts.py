"""The limit parts of ``fetch.lua`` and ``ack.lua`` (``lua/_limits.lua``) called directly on
a real Redis: a task over its limit is held (not leased, not returned), its wake-up is the
next due time, a freed slot moves the first held task to the head of pending with a
wake-up token, a holder no longer leased is dropped once the limit is reached, and a limit
key of the wrong type runs the tasks unlimited rather than failing the fetch."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest
from pydantic import BaseModel

import bingo_core as bingo

Q = "bingo:{default}"


class Order(BaseModel):
    customer: str = "a"


async def work(ctx: bingo.TaskContext, payload: Order) -> None:
    """Never run here: the scripts are called directly."""


class Limited:
    @bingo.hookimpl
    def bingo_register_tasks(self, register: bingo.TaskRegister) -> None:
        register("s:one", work, payload=Order, concurrency_limit=1, limit_key="customer")
        register("s:rate", work, payload=Order, rate_limit="2/m")


@pytest.fixture
def app(bingo_app: Any) -> Any:
    return bingo_app(Limited())


def fetch(app: Any, n: int, worker: str = "w1", lease: float = 60) -> Any:
    async def call() -> Any:
        broker = app.async_broker()
        try:
            return await broker.fetch("default", n, time.time() + lease, worker)
        finally:
            await app.aclose()

    return asyncio.run(call())


def ack(app: Any, ids: list[str], worker: str = "w1") -> list[str]:
    async def call() -> list[str]:
        broker = app.async_broker()
        try:
            return await broker.ack("default", [(i, 0.0, "", "") for i in ids], worker)
        finally:
            await app.aclose()

    return asyncio.run(call())


def test_fetch_holds_and_ack_releases(app: Any, redis_client: Any) -> None:
    first = app.client.enqueue("s:one", {"customer": "a"})
    second = app.client.enqueue("s:one", {"customer": "a"})
    other = app.client.enqueue("s:one", {"customer": "b"})
    got = fetch(app, 10)
    assert sorted(t.id for t in got.leased) == sorted([first.id, other.id])
    assert got.unusable == []
    subject = f"{Q}:limit:s:one\x1fa"
    assert redis_client.lrange(f"{subject}:held", 0, -1) == [second.id]
    assert redis_client.zrange(f"{subject}:active", 0, -1) == [first.id]
    assert redis_client.hget(f"{Q}:t:{second.id}", "state") == "pending"
    assert redis_client.zcard(f"{Q}:throttled") == 1
    redis_client.delete(f"{Q}:notify")
    assert ack(app, [first.id]) == []
    assert redis_client.lrange(f"{Q}:pending", -1, -1) == [second.id]  # the head
    assert redis_client.llen(f"{Q}:notify") == 1
    assert redis_client.zcard(f"{Q}:throttled") == 0
    assert [t.id for t in fetch(app, 10).leased] == [second.id]


def test_a_rate_limited_tasks_wake_up_is_the_next_due_time(app: Any, redis_client: Any) -> None:
    for _ in range(3):
        app.client.enqueue("s:rate", {})
    got = fetch(app, 10)
    assert len(got.leased) == 1  # 2/m: one start every 30 s
    (first,) = got.leased
    assert first.start_at <= time.time() + 0.01  # at once
    assert first.slack == 15.0  # may start up to half its spacing late
    # woken 25 ms before the next start time (the worker holds it until then)
    assert got.next_due is not None and 29.5 < got.next_due - time.time() <= 30
    assert redis_client.llen(f"{Q}:limit:s:rate:held") == 2
    assert 29.5 < float(redis_client.get(f"{Q}:limit:s:rate:next")) - time.time() <= 30.5


def test_a_holder_no_longer_leased_is_dropped_at_the_limit(app: Any, redis_client: Any) -> None:
    first = app.client.enqueue("s:one", {"customer": "a"})
    fetch(app, 1, worker="dead", lease=0.2)  # its worker dies: the lease runs out
    second = app.client.enqueue("s:one", {"customer": "a"})
    assert fetch(app, 1).leased == []  # still leased: held back
    time.sleep(0.3)
    redis_client.zrem(f"{Q}:lease", first.id)  # as the recoverer does
    got = fetch(app, 1)  # the wake-up (the lease's end) has come: the slot is free
    assert [t.id for t in got.leased] == [second.id]


def test_a_limit_key_of_the_wrong_type_runs_the_tasks_unlimited(
    app: Any, redis_client: Any
) -> None:
    redis_client.set(f"{Q}:limit:s:one\x1fa:active", "not a zset")
    ids = {app.client.enqueue("s:one", {"customer": "a"}).id for _ in range(2)}
    got = fetch(app, 10)
    assert {t.id for t in got.leased} == ids
    assert redis_client.get(f"{Q}:limit:s:one\x1fa:active") == "not a zset"
    assert ack(app, list(ids)) == []


def test_queue_delete_counts_and_deletes_held_back_tasks(app: Any, redis_client: Any) -> None:
    from bingo_core.errors import QueueNotEmpty

    ids = [app.client.enqueue("s:rate", {}).id for _ in range(4)]
    fetch(app, 10)
    assert redis_client.llen(f"{Q}:limit:s:rate:held") == 3
    ack(app, ids[:1])
    with pytest.raises(QueueNotEmpty, match="3"):
        app.inspector.delete_queue("default")
    assert app.inspector.delete_queue("default", force=True) == 3
    left = redis_client.keys(f"{Q}:*")
    assert [k for k in left if ":processed:" not in k] == []  # daily counters expire alone


def test_a_held_back_task_says_which_limit_holds_it(app: Any, redis_client: Any) -> None:
    running = app.client.enqueue("s:one", {"customer": "a"})
    held = app.client.enqueue("s:one", {"customer": "a"})
    rated = [app.client.enqueue("s:rate", {}) for _ in range(2)]
    assert fetch(app, 10).leased
    assert app.client.info(running.id).held_by is None  # active
    shown = app.inspector.task("default", held.id)
    assert shown.state == "pending"
    assert shown.held_by == "held back by concurrency_limit=1 (1 running) of type s:one, key 'a'"
    assert app.client.info(held.id).to_dict()["held_by"] == shown.held_by
    waiting = app.client.info(rated[1].id).held_by or ""
    pattern = r"held back by rate_limit=2/60s \(next start in (29|30)\.\d\ds\) of type s:rate"
    assert re.fullmatch(pattern, waiting), waiting
    # not held (a plain pending task, or one put back at the head of pending)
    plain = app.client.enqueue("s:rate", {})
    assert app.client.info(plain.id).held_by is None


def test_a_task_come_to_late_is_given_the_next_free_start_time(app: Any, redis_client: Any) -> None:
    first = app.client.enqueue("s:rate", {})
    (leased,) = fetch(app, 10).leased
    assert leased.id == first.id
    # 2/m: its own time is taken; the next free one is 30 s on, and the one after 60 s
    assert 29.5 < late_start(app, first.id) - time.time() <= 30.5
    assert 59.5 < float(redis_client.get(f"{Q}:limit:s:rate:next")) - time.time() <= 60.5
    plain = app.client.enqueue("s:one", {})  # no rate limit: start now
    assert late_start(app, plain.id) == 0.0


def late_start(app: Any, task_id: str) -> float:
    async def call() -> float:
        broker = app.async_broker()
        try:
            return await broker.late_start("default", task_id)
        finally:
            await app.aclose()

    return asyncio.run(call())

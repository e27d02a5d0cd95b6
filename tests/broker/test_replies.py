"""Each broker method decodes its own script's reply: ``task_move.lua``,
``task_move_many.lua``, ``task_cancel.lua``, ``queue_delete.lua``, ``fetch.lua`` and
``recover.lua`` answer records or Bingo's errors, never reply codes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bingo_core import Client
from bingo_core.broker import AsyncBroker, Broker
from bingo_core.errors import QueueNotEmpty
from bingo_core.records import FetchResult, Move, RecoverResult
from bingo_core.registry import Registry, TaskRegister


async def handle(ctx: Any, payload: Any) -> None:
    return None


@pytest.fixture
def env(bingo_settings: Any) -> Any:
    registry = Registry()
    TaskRegister(registry, "t")("t:x", handle, max_retry=1)
    client = Client(bingo_settings, registry=registry)
    broker = Broker(bingo_settings.redis)
    yield client, broker
    broker.close()
    client.close()


def on_async(settings: Any, fn: Callable[[AsyncBroker], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        broker = AsyncBroker(settings.redis)
        try:
            return await fn(broker)
        finally:
            await broker.close()

    return asyncio.run(main())


def test_task_move_answers_what_it_did(env: Any) -> None:
    client, broker = env
    later = client.enqueue("t:x", {}, process_in=600)
    assert broker.task_move("default", later.id, "run") is Move.DONE
    assert broker.task_move("default", later.id, "run") is Move.ALREADY
    assert broker.task_move("default", "ghost", "archive") is Move.MISSING
    assert broker.task_move_many("default", [later.id, "ghost"], "archive") == [
        Move.DONE,
        Move.MISSING,
    ]
    assert str(Move.MISSING) == "no such task"


def test_an_active_task_is_not_moved_and_its_worker_is_asked_to_cancel_it(
    env: Any, bingo_settings: Any
) -> None:
    client, broker = env
    info = client.enqueue("t:x", {})
    fetched = on_async(bingo_settings, lambda b: b.fetch("default", 5, time.time() + 60, "w1"))
    assert isinstance(fetched, FetchResult)
    (leased,) = fetched.leased
    assert (leased.id, leased.retried, fetched.unusable, fetched.popped) == (info.id, 0, [], 1)
    assert fetched.next_due is None and fetched.paused is False
    assert broker.task_move("default", info.id, "delete") is Move.ACTIVE
    assert broker.task_cancel("default", info.id, "the CLI") is Move.ASKED
    assert broker.task_cancel("default", "ghost", "the CLI") is Move.MISSING
    waiting = client.enqueue("t:x", {})
    assert broker.task_cancel("default", waiting.id, "the CLI") is Move.DONE  # archived now
    assert broker.task_cancel("default", waiting.id, "the CLI") is Move.ALREADY


def test_fetch_says_when_the_next_task_is_due_and_when_the_queue_is_paused(
    env: Any, bingo_settings: Any
) -> None:
    client, broker = env
    later = client.enqueue("t:x", {}, process_in=600)
    fetched = on_async(bingo_settings, lambda b: b.fetch("default", 5, time.time() + 60, "w1"))
    assert fetched.leased == [] and fetched.next_due is not None
    assert abs(fetched.next_due - (later.process_at or 0)) < 1
    broker.set_paused("default", True)
    fetched = on_async(bingo_settings, lambda b: b.fetch("default", 5, time.time() + 60, "w1"))
    assert fetched.paused is True and fetched.leased == [] and fetched.next_due is None


def test_recover_counts_what_it_did(env: Any, bingo_settings: Any) -> None:
    client, _ = env
    first = client.enqueue("t:x", {})
    on_async(bingo_settings, lambda b: b.fetch("default", 1, time.time() - 1, "gone"))
    result = on_async(bingo_settings, lambda b: b.recover("default", "lost"))
    assert result == RecoverResult(requeued=1)
    on_async(bingo_settings, lambda b: b.fetch("default", 1, time.time() - 1, "gone"))
    result = on_async(bingo_settings, lambda b: b.recover("default", "lost"))
    assert result == RecoverResult(archived=1)  # max_retry=1: used up
    assert result + RecoverResult(requeued=2) == RecoverResult(requeued=2, archived=1)
    assert client.broker.reader.get_task("default", first.id).state == "archived"


def test_delete_queue_refuses_a_queue_that_holds_tasks(env: Any) -> None:
    client, broker = env
    client.enqueue("t:x", {})
    with pytest.raises(QueueNotEmpty, match=r"queue 'default' still holds 1 task\(s\)"):
        broker.delete_queue("default", False)
    assert broker.delete_queue("default", True) == 1

"""``AsyncBroker.results``: a workflow step's parents' results, read before it runs. Many
parents of its own queue (a chord's step after a group) are one script call
(``results.lua``); a parent in another queue (``<id>@<queue>``) is read there."""

from __future__ import annotations

import asyncio
from typing import Any

from bingo_core.broker import AsyncBroker


def test_many_parents_of_one_queue_are_one_call(bingo_settings: Any, redis_client: Any) -> None:
    ids = [f"p{i}" for i in range(300)]
    for i, task_id in enumerate(ids[:-2]):
        redis_client.hset(f"bingo:{{default}}:t:{task_id}", mapping={"result": str(i)})
    redis_client.hset("bingo:{default}:t:p298", "state", "completed")  # no result kept
    # p299: no hash at all

    async def main() -> list[Any]:
        broker = AsyncBroker(bingo_settings.redis)
        try:
            await broker.ping()
            await broker.results("default", ids[:2])  # its scripts loaded
            redis_client.config_resetstat()
            return await broker.results("default", ids)
        finally:
            await broker.close()

    got = asyncio.run(main())
    assert got == [*range(298), None, None]
    stats = redis_client.info("commandstats")
    assert stats["cmdstat_evalsha"]["calls"] == 1
    assert stats["cmdstat_hget"]["calls"] == 300  # inside the script


def test_a_parent_in_another_queue_is_read_there(bingo_settings: Any, redis_client: Any) -> None:
    redis_client.hset("bingo:{default}:t:a", "result", '"here"')
    redis_client.hset("bingo:{other}:t:b", "result", '{"x": 1}')

    async def main() -> list[Any]:
        broker = AsyncBroker(bingo_settings.redis)
        try:
            return [
                await broker.results("default", ["a", "b@other"]),
                await broker.results("default", ["a"]),
            ]
        finally:
            await broker.close()

    assert asyncio.run(main()) == [["here", {"x": 1}], ["here"]]

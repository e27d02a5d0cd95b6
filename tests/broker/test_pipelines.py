"""Scripts on a pipeline: one round trip (no ``SCRIPT EXISTS`` first, a script Redis
lost is loaded and run again), and a pipeline cancelled while it waits (a worker shutting
down, a client's deadline) gives its connection back instead of leaving it to the garbage
collector."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
import redis.asyncio

from bingo_core.broker import AsyncBroker, Broker
from bingo_core.broker.scripts import DURATION_BUCKETS, ENQUEUED, EXISTS, Prepared


def test_a_script_pipeline_cancelled_while_loading_gives_its_connection_back(
    bingo_settings: Any, redis_url: str
) -> None:
    async def main() -> None:
        broker = AsyncBroker(bingo_settings.redis)
        admin = redis.asyncio.Redis.from_url(redis_url)
        try:
            await broker.ping()
            await admin.client_pause(500, all=True)  # SCRIPT EXISTS now waits
            job = asyncio.create_task(
                broker.record_stats({"default": [("t:x", 1, 0, 0.01, 0.01, [1])]})
            )
            await asyncio.sleep(0.15)
            assert not job.done()
            job.cancel()
            with pytest.raises(asyncio.CancelledError):
                await job
            del job
            gc.collect()  # a pipeline still holding its connection warns here
            assert not broker.redis.connection_pool._in_use_connections
        finally:
            await admin.aclose()
            await broker.close()

    asyncio.run(main())


def _script_calls(client: Any) -> dict[str, int]:
    stats = client.info("commandstats")
    return {
        name: int(stats.get(f"cmdstat_{name}", {}).get("calls", 0))
        for name in ("script|exists", "script|load", "evalsha")
    }


def test_scripts_on_a_pipeline_take_one_round_trip(bingo_settings: Any, redis_client: Any) -> None:
    """No ``SCRIPT EXISTS`` before the pipeline; a script Redis lost (``SCRIPT FLUSH``)
    is loaded and its calls alone run again."""

    async def main() -> None:
        broker = AsyncBroker(bingo_settings.redis)
        try:
            tasks = [Prepared("default", f"id{i}", "{}") for i in range(3)]
            before = _script_calls(redis_client)
            codes = await broker.enqueue(tasks[:2])
            after = _script_calls(redis_client)
            assert codes == [ENQUEUED, ENQUEUED]
            assert after["script|exists"] == before["script|exists"]
            assert after["evalsha"] > before["evalsha"]
            redis_client.script_flush()
            assert await broker.enqueue(tasks[1:]) == [EXISTS, ENQUEUED]
            assert _script_calls(redis_client)["script|load"] > after["script|load"]
            buckets = [1] + [0] * len(DURATION_BUCKETS)
            await broker.record_stats({"default": [("t:x", 1, 0, 0.01, 0.01, buckets)]})
        finally:
            await broker.close()

    asyncio.run(main())
    assert redis_client.llen("bingo:{default}:pending") == 3
    assert redis_client.hget("bingo:{default}:stats:total", "t:x|p") == "1"


def test_the_sync_broker_pipelines_scripts_in_one_round_trip(
    bingo_settings: Any, redis_client: Any
) -> None:
    broker = Broker(bingo_settings.redis)
    try:
        # Two queues, new to the broker: SADD and one script call each, in one pipeline.
        tasks = [Prepared(q, f"{q}-{i}", "{}") for i in range(2) for q in ("a", "b")]
        before = _script_calls(redis_client)
        assert broker.enqueue(tasks[:2]) == [ENQUEUED, ENQUEUED]
        after = _script_calls(redis_client)
        assert after["script|exists"] == before["script|exists"]
        redis_client.script_flush()
        assert broker.enqueue(tasks[2:]) == [ENQUEUED, ENQUEUED]
        assert _script_calls(redis_client)["script|load"] > after["script|load"]
    finally:
        broker.close()
    assert redis_client.llen("bingo:{a}:pending") == redis_client.llen("bingo:{b}:pending") == 2

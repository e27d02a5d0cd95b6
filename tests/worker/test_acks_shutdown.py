"""Acks written while the worker stops: a write already on its way is waited for, not
cancelled and sent again (which made Redis answer "not active" and the worker log a
false "finished after their lease expired")."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

from bingo_core import Client
from bingo_core.broker import AsyncBroker
from bingo_core.loops import Outage
from bingo_core.registry import Registry, TaskRegister
from bingo_core.worker.acks import Acks


async def handle(ctx: Any, payload: Any) -> None:
    return None


def test_stop_waits_for_an_ack_on_its_way(
    bingo_settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    registry = Registry()
    TaskRegister(registry, "t")("t:x", handle)
    with Client(bingo_settings, registry=registry) as client:
        ids = [client.enqueue("t:x", {}).id for _ in range(3)]

    async def main() -> list[int]:
        broker = AsyncBroker(bingo_settings.redis)
        calls: list[int] = []

        async def slow_reply(queue: str, items: list[Any]) -> list[str]:
            # The script has run in Redis; its reply is still on the way back.
            lost = await broker.ack(queue, items, "w1")
            calls.append(len(items))
            await asyncio.sleep(0.3)
            return lost

        try:
            fetched = await broker.fetch("default", 5, time.time() + 60, "w1")
            assert sorted(t.id for t in fetched.leased) == sorted(ids)
            outage = Outage("Redis", "test", logging.getLogger("test"))
            acks = Acks(broker, "w1", outage, write=slow_reply)
            for task_id in ids:
                acks.add("default", (task_id, 60.0, "", ""))
            await asyncio.sleep(0.1)  # the write is under way
            await acks.stop()
            return calls
        finally:
            await broker.close()

    with caplog.at_level(logging.WARNING, logger="bingo.worker"):
        calls = asyncio.run(main())
    assert calls == [3]  # written once
    assert "lease expired" not in caplog.text

"""``Client.run_entry`` / ``AsyncClient.run_entry``: a schedule entry's task enqueued once,
now, with the entry's payload and options, through a real Redis."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel

from bingo_core import AsyncClient, Client
from bingo_core.broker import AsyncBroker
from bingo_core.registry import Registry, ScheduleEntry, TaskRegister, plugin_source
from bingo_core.scheduler.entries import CompiledEntry, compile_entry


class Report(BaseModel):
    date: str = "today"
    pages: int = 1


async def handle(ctx: Any, payload: Report) -> None:
    return None


def _entry() -> tuple[Registry, CompiledEntry]:
    registry = Registry()
    TaskRegister(registry, "t")("task:report", handle, payload=Report, max_retry=3, timeout=20)
    entry = ScheduleEntry(
        spec="0 2 * * *",
        type="task:report",
        payload={"date": "2026-12-01"},
        options={"queue": "low", "max_retry": 7},
        source=plugin_source("t"),
        name="nightly",
    )
    return registry, compile_entry(entry, registry, "UTC")


def test_run_entry_enqueues_the_entry_task_now(bingo_settings: Any, redis_client: Any) -> None:
    registry, compiled = _entry()
    with Client(bingo_settings, registry=registry) as client:
        info = client.run_entry(compiled)
        again = client.run_entry(compiled)  # no tick, no dedupe: a second task
        stored = client.broker.reader.get_task("low", info.id)
    assert (info.type, info.queue, info.state, info.max_retry) == (
        "task:report",
        "low",
        "pending",
        7,
    )
    assert info.source == "plugin:t|nightly" and info.timeout == 20
    assert info.payload == {"date": "2026-12-01", "pages": 1}
    assert again.id != info.id
    assert redis_client.lrange("bingo:{low}:pending", 0, -1) == [again.id, info.id]
    assert stored.payload == {"date": "2026-12-01", "pages": 1}
    assert stored.source == "plugin:t|nightly" and stored.max_retry == 7


def test_async_run_entry(bingo_settings: Any, redis_client: Any) -> None:
    registry, compiled = _entry()

    async def main() -> str:
        broker = AsyncBroker(bingo_settings.redis)
        try:
            info = await AsyncClient(bingo_settings, registry, broker).run_entry(compiled)
        finally:
            await broker.close()
        return info.id

    task_id = asyncio.run(main())
    assert redis_client.lrange("bingo:{low}:pending", 0, -1) == [task_id]

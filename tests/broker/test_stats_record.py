"""``stats_record.lua``: per task type figures added to the daily and total hashes, and the
type's last error kept while no newer one comes (what the task types page shows); and a
real worker recording a failing type's last error."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import bingo_core as bingo
from bingo_core.broker import AsyncBroker
from bingo_core.broker.scripts import DURATION_BUCKETS, STATS_ERROR_SIZE, StatsRow
from bingo_core.testing import run_task

NB = len(DURATION_BUCKETS) + 1


def record(settings: Any, *rows: StatsRow) -> None:
    async def main() -> None:
        broker = AsyncBroker(settings.redis)
        try:
            await broker.record_stats({"default": list(rows)})
        finally:
            await broker.close()

    asyncio.run(main())


def test_last_error_kept_until_a_newer_one(bingo_settings: Any, bingo_app: Any) -> None:
    app = bingo_app()
    t0 = time.time() - 100
    buckets = [1] + [0] * (NB - 1)
    record(bingo_settings, StatsRow("t:x", 3, 1, 0.3, 0.2, buckets, "ValueError: one", t0))
    record(bingo_settings, StatsRow("t:x", 2, 0, 0.2, 0.1, buckets))  # no failure: kept
    record(bingo_settings, StatsRow("t:x", 1, 1, 0.1, 0.1, buckets, "KeyError: old", t0 - 50))
    day = datetime.now(UTC).date().isoformat()
    for rows in (
        app.inspector.task_stats(None, ["default"]),
        app.inspector.task_stats(day, ["default"]),
    ):
        [row] = rows
        assert (row.processed, row.failed, row.buckets[0]) == (6, 2, 3)
        assert (row.last_error, row.last_error_at) == ("ValueError: one", t0)
    record(bingo_settings, StatsRow("t:x", 1, 1, 0.1, 0.1, buckets, "x" * 5000, t0 + 10))
    [row] = app.inspector.task_stats(None, ["default"])
    assert row.last_error == "x" * STATS_ERROR_SIZE and row.last_error_at == t0 + 10
    assert row.to_json()["last_error_at"] == t0 + 10


def test_a_type_without_failures_has_no_last_error(bingo_settings: Any, bingo_app: Any) -> None:
    app = bingo_app()
    record(bingo_settings, ("t:ok", 2, 0, 0.2, 0.1, [2] + [0] * (NB - 1)))  # a plain tuple
    [row] = app.inspector.task_stats(None, ["default"])
    assert (row.processed, row.last_error, row.last_error_at) == (2, "", None)


class Failing:
    @bingo.hookimpl
    def bingo_register_tasks(self, register: Any) -> None:
        register("t:fail", fail, max_retry=0)


async def fail(ctx: Any, payload: Any) -> None:
    raise RuntimeError("the disk is full")


def test_a_worker_records_the_last_error_of_a_type(bingo_app: Any) -> None:
    app = bingo_app(Failing())
    before = time.time()
    task = run_task(app, "t:fail", {})
    assert task.state == "archived"
    [row] = app.inspector.task_stats()
    assert (row.type, row.processed, row.failed) == ("t:fail", 1, 1)
    assert row.last_error == task.error and "RuntimeError: the disk is full" in row.last_error
    assert row.last_error_at is not None and before <= row.last_error_at <= time.time()

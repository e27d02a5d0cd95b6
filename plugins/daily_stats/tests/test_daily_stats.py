"""Tests of the daily_stats plugin: payload and settings checks, and the rows a real worker
writes into ``sys_task_stats`` on SQLite and on MariaDB from the core's statistics."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import bingo_plugin_daily_stats as plugin
import pytest
import redis
from pydantic import BaseModel, ValidationError
from sqlalchemy import create_engine, inspect, select

import bingo_core as bingo
from bingo_core.app import App
from bingo_core.errors import PayloadError
from bingo_core.testing import run_task


class Work(BaseModel):
    seconds: float = 0.0


async def work(ctx: bingo.TaskContext, payload: Work) -> None:
    await asyncio.sleep(payload.seconds)


async def refuse(ctx: bingo.TaskContext, payload: Work) -> None:
    raise bingo.SkipRetry("refused on purpose")


class Jobs:
    """Task types whose runs give the core's statistics something to count."""

    @bingo.hookimpl
    def bingo_register_tasks(self, register: bingo.TaskRegister) -> None:
        register("job:work", work, payload=Work)
        register("job:refuse", refuse, payload=Work)
        register("job:reports", work, payload=Work, queue="reports")


def rows_of(url: str, day: date) -> list[dict[str, Any]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            result = conn.execute(
                select(plugin.stats_table)
                .where(plugin.stats_table.c.date == day)
                .order_by(plugin.stats_table.c.queue, plugin.stats_table.c.type)
            )
            return [dict(r._mapping) for r in result]
    finally:
        engine.dispose()


def utc_today() -> date:
    return datetime.now(UTC).date()


@pytest.fixture
def make_app(bingo_app: Callable[..., App], bingo_database_url: str) -> Callable[..., App]:
    def make(**sections: Any) -> App:
        return bingo_app(
            plugin,
            Jobs(),
            database={"url": bingo_database_url},
            worker={"queues": {"default": 2, "reports": 1}},
            **sections,
        )

    return make


def test_registers_a_sync_task_type_settings_and_no_schedule(
    bingo_registry: Callable[..., Any],
) -> None:
    registry = bingo_registry(plugin)
    task_type = registry.get("task:daily-stats")
    assert task_type.plugin == "daily_stats"
    assert task_type.payload_model is plugin.StatsPayload
    assert not task_type.is_async
    assert (task_type.option("max_retry"), task_type.option("timeout")) == (3, 60.0)
    assert registry.schedules == []
    assert registry.settings_models["daily_stats"] is plugin.DailyStatsSettings


def test_records_each_queue_and_type_of_the_day(
    make_app: Callable[..., App], bingo_database_url: str, bingo_worker: Callable[..., None]
) -> None:
    app = make_app(server={"timezone": "UTC"})
    for seconds in (0.01, 0.02, 0.2):
        app.client.enqueue("job:work", {"seconds": seconds})
    app.client.enqueue("job:refuse", {})
    app.client.enqueue("job:reports", {"seconds": 0.05})
    day = utc_today()
    bingo_worker(app)  # the figures reach Redis when the worker flushes them (each second)
    task = run_task(app, "task:daily-stats", {"date": day.isoformat()})
    if utc_today() != day:  # the run crossed midnight UTC: the figures went to two days
        pytest.skip("crossed midnight UTC")
    assert task.state == "completed", task.error
    assert task.result == {"date": day.isoformat(), "rows": 3}
    rows = {(r["queue"], r["type"]): r for r in rows_of(bingo_database_url, day)}
    assert set(rows) == {
        ("default", "job:refuse"),
        ("default", "job:work"),
        ("reports", "job:reports"),
    }
    done = rows[("default", "job:work")]
    assert (done["processed"], done["failed"]) == (3, 0)
    # Durations from the histogram (bucket bounds, at most the max); a loaded machine
    # only makes them longer.
    assert 10 <= done["p50_ms"] <= done["p95_ms"] <= done["max_ms"]
    assert 200 <= done["max_ms"] < 5000
    refused = rows[("default", "job:refuse")]
    assert (refused["processed"], refused["failed"]) == (1, 1)
    assert rows[("reports", "job:reports")]["processed"] == 1
    assert all(isinstance(r["created_at"], datetime) for r in rows.values())


def test_rerunning_a_day_replaces_its_rows(
    make_app: Callable[..., App], bingo_database_url: str, bingo_worker: Callable[..., None]
) -> None:
    app = make_app(server={"timezone": "UTC"})
    app.client.enqueue("job:work", {})
    day = utc_today().isoformat()
    bingo_worker(app)
    first = run_task(app, "task:daily-stats", {"date": day})
    assert first.result["rows"] == 1
    app.client.enqueue("job:work", {})
    bingo_worker(app)
    second = run_task(app, "task:daily-stats", {"date": day})
    rows = rows_of(bingo_database_url, date.fromisoformat(day))
    if utc_today().isoformat() != day:
        pytest.skip("crossed midnight UTC")
    # The first daily-stats run is counted now too; job:work's row was replaced, not added.
    assert second.result["rows"] == 2
    assert sorted((r["type"], r["processed"]) for r in rows) == [
        ("job:work", 2),
        ("task:daily-stats", 1),
    ]


def test_a_day_the_core_no_longer_holds_keeps_its_rows(
    make_app: Callable[..., App],
    bingo_database_url: str,
    bingo_redis_url: str,
    bingo_worker: Callable[..., None],
) -> None:
    app = make_app(server={"timezone": "UTC"})
    app.client.enqueue("job:work", {})
    day = utc_today().isoformat()
    bingo_worker(app)
    run_task(app, "task:daily-stats", {"date": day})
    client = redis.Redis.from_url(bingo_redis_url)
    client.flushall()  # as when the day's figures expired
    client.close()
    again = run_task(app, "task:daily-stats", {"date": day})
    assert again.result == {"date": day, "rows": 1}
    assert [r["type"] for r in rows_of(bingo_database_url, date.fromisoformat(day))] == ["job:work"]


def test_the_table_is_created_on_first_use_with_its_columns(
    make_app: Callable[..., App], bingo_database_url: str
) -> None:
    app = make_app()
    engine = create_engine(bingo_database_url)
    try:
        assert not inspect(engine).has_table("sys_task_stats")
        assert run_task(app, "task:daily-stats", {"date": "2026-01-31"}).state == "completed"
        columns = [c["name"] for c in inspect(engine).get_columns("sys_task_stats")]
        indexes = inspect(engine).get_indexes("sys_task_stats")
    finally:
        engine.dispose()
    assert columns == [
        "id",
        "date",
        "queue",
        "type",
        "processed",
        "failed",
        "p50_ms",
        "p95_ms",
        "max_ms",
        "created_at",
    ]
    assert [(i["column_names"], bool(i["unique"])) for i in indexes] == [
        (["date", "queue", "type"], True)
    ]


def test_today_and_yesterday_are_read_in_the_server_zone(
    bingo_app: Callable[..., App],
) -> None:
    # A zone whose date differs from UTC's right now (they are 14 and 11 hours away).
    zone = next(
        z
        for z in ("Pacific/Kiritimati", "Pacific/Pago_Pago")
        if datetime.now(ZoneInfo(z)).date() != utc_today()
    )
    app = bingo_app(plugin, server={"timezone": zone})
    before = datetime.now(ZoneInfo(zone)).date()
    today = run_task(app, "task:daily-stats", {"date": "today"}).result["date"]
    yesterday = run_task(app, "task:daily-stats", {"date": "yesterday"}).result["date"]
    after = datetime.now(ZoneInfo(zone)).date()
    assert today in (before.isoformat(), after.isoformat())
    assert date.fromordinal(date.fromisoformat(today).toordinal() - 1).isoformat() == yesterday


def test_resolve_day_reads_today_in_the_given_zone() -> None:
    moment = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    assert plugin.resolve_day("today", ZoneInfo("Asia/Shanghai"), moment) == date(2026, 3, 2)
    assert plugin.resolve_day("Yesterday", UTC, moment) == date(2026, 2, 28)
    assert plugin.resolve_day(" 2024-02-29 ", UTC, moment) == date(2024, 2, 29)


@pytest.mark.parametrize(
    "payload",
    ['{"date":"today"}', {"date": "yesterday"}, {}, {"date": date(2026, 1, 31)}],
)
def test_payloads_of_the_original_service_are_accepted(
    bingo_registry: Callable[..., Any], payload: Any
) -> None:
    # '{"date":"today"}' is the original README's sys_crontab row, as stored.
    parsed = bingo_registry(plugin).get("task:daily-stats").validate_payload(payload)
    assert parsed.date in ("today", "yesterday", "2026-01-31")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"date": "someday"}, "expected 'today', 'yesterday' or a date such as 2026-01-31"),
        ({"date": "2026-02-30"}, "got '2026-02-30'"),
        ({"date": "20260131"}, "got '20260131'"),
        ({"date": 20260131}, "Input should be a valid string"),
        ({"date": ""}, "got ''"),
        ({"day": "today"}, "day: Extra inputs are not permitted"),
    ],
)
def test_bad_payloads_are_refused_naming_the_field(
    bingo_registry: Callable[..., Any], payload: Any, message: str
) -> None:
    with pytest.raises(PayloadError, match=r"StatsPayload: ") as info:
        bingo_registry(plugin).get("task:daily-stats").validate_payload(payload)
    assert message in str(info.value)


def test_settings_refuse_unknown_and_removed_keys() -> None:
    assert plugin.DailyStatsSettings.model_validate({}) == plugin.DailyStatsSettings()
    with pytest.raises(ValidationError, match="timezone was removed: 'today' is read in server"):
        plugin.DailyStatsSettings.model_validate({"timezone": "UTC"})
    with pytest.raises(ValidationError, match="outputDir was removed"):
        plugin.DailyStatsSettings.model_validate({"outputDir": "storage/stats"})
    with pytest.raises(ValidationError, match="colour"):
        plugin.DailyStatsSettings.model_validate({"colour": "blue"})


def test_a_bad_section_fails_naming_the_key(bingo_app: Callable[..., App]) -> None:
    with pytest.raises(bingo.ConfigError, match=r"plugins\.daily_stats"):
        bingo_app(plugin, plugins={"daily_stats": {"timezone": "UTC"}})

"""Tests of the daily_stats plugin: registration, payload checks and the appended lines."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import bingo_plugin_daily_stats as plugin
import pytest

import bingo_core as bingo
from bingo_core.config import load_settings
from bingo_core.errors import PayloadError
from bingo_core.plugins import PluginManager
from bingo_core.registry import Registry


@pytest.fixture
def registry() -> Registry:
    manager = PluginManager()
    manager.add(plugin, "daily_stats")
    collected = manager.collect()
    assert manager.failures == []
    return collected


def run_in_thread(registry: Registry, payload: object, settings: object, task_id: str) -> None:
    """Run the handler off the main thread, as the worker does with a plain ``def``."""
    task_type = registry.get("task:daily-stats")
    ctx = bingo.TaskContext(task_id, task_type.name, "default", 0, 3, settings=settings)
    errors: list[BaseException] = []

    def target() -> None:
        try:
            task_type.handler(ctx, task_type.validate_payload(payload))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(10)
    assert not thread.is_alive()
    assert errors == []


def test_registers_a_sync_task_type_and_no_schedule(registry: Registry) -> None:
    task_type = registry.get("task:daily-stats")
    assert task_type.plugin == "daily_stats"
    assert task_type.payload_model is plugin.StatsPayload
    assert not task_type.is_async
    assert registry.schedules == []
    assert registry.settings_models["daily_stats"] is plugin.DailyStatsSettings


def test_each_run_appends_one_line(registry: Registry, tmp_path: Path) -> None:
    settings = plugin.DailyStatsSettings.model_validate(
        {"outputDir": str(tmp_path / "stats"), "timezone": "UTC"}
    )
    run_in_thread(registry, {"date": "2026-01-31"}, settings, "first")
    before = datetime.now(UTC).date().isoformat()
    run_in_thread(registry, {"date": "today"}, settings, "second")
    run_in_thread(registry, {}, settings, "third")
    after = datetime.now(UTC).date().isoformat()
    records = [
        json.loads(line)
        for line in (tmp_path / "stats" / plugin.STATS_FILE).read_text().splitlines()
    ]
    assert [r["task_id"] for r in records] == ["first", "second", "third"]
    assert records[0]["date"] == "2026-01-31"
    assert records[1]["date"] in (before, after)
    assert records[2]["requested"] == "today"
    assert records[2]["date"] in (before, after)


def test_today_is_read_in_the_server_zone_by_default(registry: Registry, tmp_path: Path) -> None:
    local = datetime.now().astimezone().date()
    zone = next(
        z
        for z in ("Pacific/Kiritimati", "Pacific/Pago_Pago")
        if datetime.now(ZoneInfo(z)).date() != local
    )
    plugin.bingo_startup(SimpleNamespace(server=SimpleNamespace(timezone=zone)))
    try:
        before = datetime.now(ZoneInfo(zone)).date().isoformat()
        run_in_thread(registry, {}, plugin.DailyStatsSettings(output_dir=str(tmp_path)), "z")
        after = datetime.now(ZoneInfo(zone)).date().isoformat()
    finally:
        plugin.bingo_startup(None)
    [line] = (tmp_path / plugin.STATS_FILE).read_text().splitlines()
    assert json.loads(line)["date"] in (before, after)


def test_a_worker_runs_the_task_in_a_thread(
    registry: Registry, bingo_redis_url: str, bingo_worker: Callable[..., None], tmp_path: Path
) -> None:
    out = tmp_path / "stats"
    settings = load_settings(
        None,
        env={},
        overrides={"redis.url": bingo_redis_url, "plugins.daily_stats.outputDir": str(out)},
    )
    settings.bind_plugin_settings(registry.settings_models)
    with bingo.Client(settings, registry=registry) as client:
        ids = [client.enqueue("task:daily-stats", {"date": f"2026-03-0{d}"}).id for d in (1, 2)]
    bingo_worker(registry, settings=settings)
    records = [json.loads(line) for line in (out / plugin.STATS_FILE).read_text().splitlines()]
    assert sorted((r["date"], r["task_id"]) for r in records) == [
        ("2026-03-01", ids[0]),
        ("2026-03-02", ids[1]),
    ]


@pytest.mark.parametrize("bad", ["someday", 20260131, ""])
def test_bad_dates_are_refused_naming_the_field(registry: Registry, bad: object) -> None:
    with pytest.raises(PayloadError, match=r"StatsPayload: date: "):
        registry.get("task:daily-stats").validate_payload({"date": bad})

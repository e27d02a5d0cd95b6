"""Tests of the daily_report plugin: registration, payload checks and the written report."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import bingo_plugin_daily_report as plugin
import pytest
from pydantic import ValidationError

import bingo_core as bingo
from bingo_core.config import load_settings
from bingo_core.errors import PayloadError
from bingo_core.plugins import PluginManager
from bingo_core.registry import Registry


@pytest.fixture
def manager() -> Iterator[PluginManager]:
    built = PluginManager()
    built.add(plugin, "daily_report")
    yield built
    built.hook.bingo_startup(settings=None)  # forget any server zone a test taught it


@pytest.fixture
def registry(manager: PluginManager) -> Registry:
    collected = manager.collect()
    assert manager.failures == []
    return collected


def zone_with_another_date() -> str:
    """A zone whose current date differs from the machine's (they are 25 hours apart)."""
    local = datetime.now().astimezone().date()
    for name in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):
        if datetime.now(ZoneInfo(name)).date() != local:
            return name
    raise AssertionError("two zones 25 hours apart cannot both show the local date")


def run(registry: Registry, payload: object, settings: object, task_id: str = "t1") -> None:
    task_type = registry.get("task:daily-report")
    ctx = bingo.TaskContext(task_id, task_type.name, "default", 0, 5, settings=settings)
    asyncio.run(task_type.handler(ctx, task_type.validate_payload(payload)))


def test_registers_the_task_type_schedule_and_settings(registry: Registry) -> None:
    task_type = registry.get("task:daily-report")
    assert task_type.plugin == "daily_report"
    assert task_type.payload_model is plugin.ReportPayload
    assert task_type.is_async
    assert task_type.option("max_retry") == 5
    assert task_type.option("timeout") == 30.0
    [entry] = registry.schedules
    assert (entry.spec, entry.type, entry.payload) == (
        "0 2 * * *",
        "task:daily-report",
        {"date": "today"},
    )
    assert entry.source == "plugin:daily_report"
    assert registry.settings_models["daily_report"] is plugin.DailyReportSettings


def test_writes_the_report_for_an_iso_date(registry: Registry, tmp_path: Path) -> None:
    settings = plugin.DailyReportSettings.model_validate({"outputDir": str(tmp_path / "out")})
    run(registry, {"date": "2026-01-31"}, settings, task_id="abc")
    written = tmp_path / "out" / "daily-report-2026-01-31.json"
    lines = written.read_text().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["date"] == "2026-01-31"
    assert record["task_id"] == "abc"
    assert record["attempt"] == 1
    # A re-delivered task rewrites the same report instead of adding a second one.
    run(registry, {"date": "2026-01-31"}, settings, task_id="def")
    assert [p.name for p in (tmp_path / "out").iterdir()] == [written.name]
    assert json.loads(written.read_text())["task_id"] == "def"


def test_yesterday_is_read_in_the_configured_zone(registry: Registry, tmp_path: Path) -> None:
    settings = plugin.DailyReportSettings(output_dir=str(tmp_path), timezone="Pacific/Kiritimati")
    zone = ZoneInfo("Pacific/Kiritimati")
    before = datetime.now(zone).date() - timedelta(days=1)
    run(registry, {"date": "yesterday"}, settings)
    after = datetime.now(zone).date() - timedelta(days=1)
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written in (
        [f"daily-report-{before.isoformat()}.json"],
        [f"daily-report-{after.isoformat()}.json"],
    )


def test_today_is_read_in_the_server_zone_by_default(
    manager: PluginManager, registry: Registry, tmp_path: Path
) -> None:
    zone = zone_with_another_date()
    manager.hook.bingo_startup(settings=SimpleNamespace(server=SimpleNamespace(timezone=zone)))
    before = datetime.now(ZoneInfo(zone)).date()
    run(registry, {"date": "today"}, plugin.DailyReportSettings(output_dir=str(tmp_path)))
    after = datetime.now(ZoneInfo(zone)).date()
    written = [p.name for p in tmp_path.iterdir()]
    assert written in ([f"daily-report-{d.isoformat()}.json"] for d in (before, after))


def test_a_worker_runs_the_task_with_the_configured_settings(
    registry: Registry, bingo_redis_url: str, bingo_worker: Callable[..., None], tmp_path: Path
) -> None:
    out = tmp_path / "reports"
    settings = load_settings(
        None,
        env={},
        overrides={"redis.url": bingo_redis_url, "plugins.daily_report.outputDir": str(out)},
    )
    settings.bind_plugin_settings(registry.settings_models)
    with bingo.Client(settings, registry=registry) as client:
        info = client.enqueue("task:daily-report", {"date": "2026-02-01"})
    bingo_worker(registry, settings=settings)
    record = json.loads((out / "daily-report-2026-02-01.json").read_text())
    assert record["task_id"] == info.id
    assert record["attempt"] == 1


def test_resolve_date_uses_the_given_moment() -> None:
    moment = datetime(2026, 3, 1, 23, 30, tzinfo=ZoneInfo("UTC"))
    assert plugin.resolve_date("today", "Asia/Shanghai", now=moment) == date(2026, 3, 2)
    assert plugin.resolve_date("yesterday", "UTC", now=moment) == date(2026, 2, 28)
    assert plugin.resolve_date(" 2024-02-29 ", None, now=moment) == date(2024, 2, 29)


@pytest.mark.parametrize("bad", [5, "tomorrow", "2026-02-30", None])
def test_bad_dates_are_refused_naming_the_field(registry: Registry, bad: object) -> None:
    with pytest.raises(PayloadError, match=r"task:daily-report.*ReportPayload: date: "):
        registry.get("task:daily-report").validate_payload({"date": bad})


def test_settings_refuse_unknown_keys_and_zones() -> None:
    with pytest.raises(ValidationError, match="outputDirectory"):
        plugin.DailyReportSettings.model_validate({"outputDirectory": "x"})
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Base'"):
        plugin.DailyReportSettings.model_validate({"timezone": "Mars/Base"})

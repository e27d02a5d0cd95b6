"""Bingo plugin: the ``task:daily-stats`` task type.

It registers no schedule of its own: it is meant to be driven from a ``sys_crontab`` row,
for example::

    bingo-scheduler cron add daily-stats task:daily-stats "30 2 * * *" --payload '{"date": "today"}'

Each run appends one JSON line to ``<outputDir>/daily-stats.jsonl``. The handler is a plain
``def``, so the worker runs it in a thread.

Configuration (``plugins.daily_stats`` in the YAML file)::

    plugins:
      daily_stats:
        outputDir: storage/stats     # where daily-stats.jsonl is kept
        timezone: Asia/Shanghai      # how "today" is read; default server.timezone, else
                                     # the machine's zone
"""

from __future__ import annotations

import json
import os
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic.alias_generators import to_camel

import bingo_core as bingo

if TYPE_CHECKING:
    from bingo_core.registry import SettingsRegister, TaskRegister

TASK_TYPE = "task:daily-stats"
STATS_FILE = "daily-stats.jsonl"
_RELATIVE = ("today", "yesterday")
#: The daemon's ``server.timezone``, learned at startup: where "today" is read unless the
#: plugin's own ``timezone`` setting names another zone.
_server: dict[str, str | None] = {"timezone": None}


def _check_date(value: str) -> str:
    text = value.strip().lower()
    if text in _RELATIVE:
        return text
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise ValueError(
            f"expected 'today', 'yesterday' or a date such as 2026-01-31, got {value!r}"
        ) from None


class StatsPayload(BaseModel):
    """Payload of ``task:daily-stats``: the day the stats are for."""

    date: str = "today"

    @field_validator("date")
    @classmethod
    def _normalize_date(cls, value: str) -> str:
        return _check_date(value)


class DailyStatsSettings(BaseModel):
    """The ``plugins.daily_stats`` section of the configuration."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    output_dir: str = "storage/stats"
    timezone: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}, expected a name such as UTC") from None
        return value


def resolve_date(value: str, timezone: str | None = None) -> date:
    """Turn ``today``, ``yesterday`` or an ISO date into a date, reading "today" in ``timezone``."""
    text = _check_date(value)
    if text not in _RELATIVE:
        return date.fromisoformat(text)
    today = datetime.now(ZoneInfo(timezone) if timezone else None).date()
    return today if text == "today" else today - timedelta(days=1)


def stats_path(output_dir: str | os.PathLike[str]) -> Path:
    """The file the stats lines are appended to."""
    return Path(output_dir) / STATS_FILE


def handle_daily_stats(ctx: bingo.TaskContext, payload: StatsPayload) -> None:
    """Append the day's stats line."""
    settings: DailyStatsSettings = ctx.settings or DailyStatsSettings()
    day = resolve_date(payload.date, settings.timezone or _server["timezone"])
    path = stats_path(settings.output_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(
        {
            "date": day.isoformat(),
            "requested": payload.date,
            "task_id": ctx.task_id,
            "attempt": ctx.retry_count + 1,
            "recorded_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        },
        sort_keys=True,
    )
    # One write of one short line in append mode, so lines from concurrent runs never interleave.
    with path.open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")
    ctx.logger.info("daily stats for %s appended to %s", day.isoformat(), path)


@bingo.hookimpl
def bingo_startup(settings: Any) -> None:
    """Remember the daemon's ``server.timezone``: "today" is read there by default."""
    zone = getattr(getattr(settings, "server", None), "timezone", None)
    _server["timezone"] = str(zone) if zone else None


@bingo.hookimpl
def bingo_register_settings(register: SettingsRegister) -> None:
    """Validate ``plugins.daily_stats`` against :class:`DailyStatsSettings`."""
    register(DailyStatsSettings)


@bingo.hookimpl
def bingo_register_tasks(register: TaskRegister) -> None:
    """Register ``task:daily-stats``."""
    register(TASK_TYPE, handle_daily_stats, payload=StatsPayload, max_retry=3, timeout=60)

"""Bingo plugin: the ``task:daily-report`` task type and its nightly schedule.

The handler resolves the payload's date (``today``, ``yesterday`` or ``YYYY-MM-DD``) and
writes a one-line JSON report to ``<outputDir>/daily-report-<date>.json``. Re-running it for
the same date rewrites the same file, so a re-delivered task does no harm.

Configuration (``plugins.daily_report`` in the YAML file)::

    plugins:
      daily_report:
        outputDir: storage/reports   # where the reports are written
        timezone: Asia/Shanghai      # how "today" is read; default server.timezone, else
                                     # the machine's zone
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic.alias_generators import to_camel

import bingo_core as bingo

if TYPE_CHECKING:
    from bingo_core.registry import ScheduleRegister, SettingsRegister, TaskRegister

TASK_TYPE = "task:daily-report"
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


def _check_zone(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}, expected a name such as UTC") from None
    return value


class ReportPayload(BaseModel):
    """Payload of ``task:daily-report``: the day to report on."""

    date: str = "today"

    @field_validator("date")
    @classmethod
    def _normalize_date(cls, value: str) -> str:
        return _check_date(value)


class DailyReportSettings(BaseModel):
    """The ``plugins.daily_report`` section of the configuration."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    output_dir: str = "storage/reports"
    timezone: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return _check_zone(value)


def resolve_date(value: str, timezone: str | None = None, now: datetime | None = None) -> date:
    """Turn ``today``, ``yesterday`` or an ISO date into a date, reading "today" in ``timezone``.

    ``timezone`` is an IANA zone name; ``None`` means the machine's local zone.
    """
    text = _check_date(value)
    if text not in _RELATIVE:
        return date.fromisoformat(text)
    zone = ZoneInfo(timezone) if timezone else None
    today = (now or datetime.now().astimezone()).astimezone(zone).date()
    return today if text == "today" else today - timedelta(days=1)


def report_path(output_dir: str | os.PathLike[str], day: date) -> Path:
    """Where the report for ``day`` is written."""
    return Path(output_dir) / f"daily-report-{day.isoformat()}.json"


def _write_atomically(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(record, sort_keys=True) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


async def handle_daily_report(ctx: bingo.TaskContext, payload: ReportPayload) -> None:
    """Write the daily report for the payload's date."""
    settings: DailyReportSettings = ctx.settings or DailyReportSettings()
    day = resolve_date(payload.date, settings.timezone or _server["timezone"])
    path = report_path(settings.output_dir, day)
    record = {
        "report": "daily",
        "date": day.isoformat(),
        "requested": payload.date,
        "task_id": ctx.task_id,
        "attempt": ctx.retry_count + 1,
        "generated_at": datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    await asyncio.to_thread(_write_atomically, path, record)
    ctx.logger.info("daily report for %s written to %s", day.isoformat(), path)


@bingo.hookimpl
def bingo_startup(settings: Any) -> None:
    """Remember the daemon's ``server.timezone``: "today" is read there by default."""
    zone = getattr(getattr(settings, "server", None), "timezone", None)
    _server["timezone"] = str(zone) if zone else None


@bingo.hookimpl
def bingo_register_settings(register: SettingsRegister) -> None:
    """Validate ``plugins.daily_report`` against :class:`DailyReportSettings`."""
    register(DailyReportSettings)


@bingo.hookimpl
def bingo_register_tasks(register: TaskRegister) -> None:
    """Register ``task:daily-report``."""
    register(TASK_TYPE, handle_daily_report, payload=ReportPayload, max_retry=5, timeout=30)


@bingo.hookimpl
def bingo_register_schedules(register: ScheduleRegister) -> None:
    """Run the report every night at 02:00 for the current day."""
    register("0 2 * * *", TASK_TYPE, payload={"date": "today"})

"""Bingo plugin: the ``task:daily-stats`` task type.

Each run copies one day's task statistics, per queue and task type, from the counters the
core keeps in Redis (``ctx.inspector.task_stats``: processed and failed attempts, and a
duration histogram every worker process adds to) into the ``sys_task_stats`` table of the
configured store (``ctx.db()``: MySQL/MariaDB or SQLite), creating the table on first use.
Re-running a day replaces that day's rows in one transaction, so a re-delivered or
repeated task does no harm.

It registers no schedule: drive it from a ``sys_crontab`` row, as the original service did::

    bingo-scheduler cron add daily-stats task:daily-stats "55 23 * * *" --payload '{"date":"today"}'

``date`` is ``today``, ``yesterday`` (both read in ``server.timezone``) or ``YYYY-MM-DD``.
"""

from __future__ import annotations

import importlib
from datetime import date
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, model_validator

import bingo_core as bingo

from .days import DaySpec, check_day, resolve_day

if TYPE_CHECKING:
    from .table import StatsTableError, read_day, replace_day, stats_table

__all__ = [
    "TABLE",
    "TASK_TYPE",
    "DailyStatsSettings",
    "DaySpec",
    "StatsPayload",
    "StatsTableError",
    "check_day",
    "collect_day",
    "handle_daily_stats",
    "read_day",
    "record_day",
    "replace_day",
    "resolve_day",
    "stats_table",
]

TASK_TYPE = "task:daily-stats"
#: The table the statistics are written to.
TABLE = "sys_task_stats"
#: Names of :mod:`.table`, imported on first use: SQLAlchemy loads when a task runs, not
#: when the plugin is loaded (``bingo-scheduler enqueue``, ``plugins``).
_TABLE_NAMES = {"StatsTableError", "read_day", "replace_day", "stats_table"}
#: Keys of the 0.1 settings that no longer exist, and why.
_REMOVED = {
    "outputDir": "the statistics are written to the sys_task_stats table now",
    "output_dir": "the statistics are written to the sys_task_stats table now",
    "timezone": "'today' is read in server.timezone",
}


class StatsPayload(BaseModel):
    """Payload of ``task:daily-stats``: the day whose statistics are recorded."""

    model_config = ConfigDict(extra="forbid")

    date: DaySpec = "today"


class DailyStatsSettings(BaseModel):
    """The ``plugins.daily_stats`` section (no keys yet; unknown ones are refused)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _removed_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, why in _REMOVED.items():
                if key in data:
                    raise ValueError(f"{key} was removed: {why}")
        return data


def collect_day(inspector: Any, day: date) -> list[dict[str, Any]]:
    """The core's figures of ``day`` as ``sys_task_stats`` rows (durations in ms)."""
    rows = []
    for s in inspector.task_stats(day.isoformat()):
        rows.append(
            {
                "queue": s.queue,
                "type": s.type,
                "processed": s.processed,
                "failed": s.failed,
                "p50_ms": round(s.p50 * 1000, 3),
                "p95_ms": round(s.p95 * 1000, 3),
                "max_ms": round(s.duration_max * 1000, 3),
            }
        )
    return rows


def record_day(ctx: bingo.TaskContext, day: date) -> int:
    """Replace the ``sys_task_stats`` rows of ``day`` with the core's current figures
    (read through ``ctx.inspector``, written through ``ctx.db()``); returns the row count.
    Also used by ``task:daily-report`` to bring the day up to date before reporting."""
    rows = collect_day(ctx.inspector, day)
    with ctx.db() as session:
        return _table().replace_day(session, day, rows)


def handle_daily_stats(ctx: bingo.TaskContext, payload: StatsPayload) -> dict[str, Any]:
    """Record the day's per queue and type statistics in ``sys_task_stats``."""
    day = resolve_day(payload.date, ctx.timezone)
    count = record_day(ctx, day)
    ctx.logger.info("daily stats for %s: %d row(s) in %s", day.isoformat(), count, TABLE)
    return {"date": day.isoformat(), "rows": count}


@bingo.hookimpl
def bingo_register_settings(register: bingo.SettingsRegister) -> None:
    """Validate ``plugins.daily_stats`` against :class:`DailyStatsSettings`."""
    register(DailyStatsSettings)


@bingo.hookimpl
def bingo_register_tasks(register: bingo.TaskRegister) -> None:
    """Register ``task:daily-stats``."""
    register(TASK_TYPE, handle_daily_stats, payload=StatsPayload, max_retry=3, timeout=60)


def _table() -> Any:
    return importlib.import_module(".table", __name__)


def __getattr__(name: str) -> Any:
    if name in _TABLE_NAMES:
        return getattr(_table(), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

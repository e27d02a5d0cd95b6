"""Bingo plugin: ``task:daily-report``, the day's task report as HTML or CSV, mailed to its
recipients, and the nightly schedule ``0 2 * * *`` that runs it.

The report is built from the ``sys_task_stats`` rows of the day (written by
``task:daily-stats``; by default the report first brings them up to date itself, so it is
complete without a separate daily-stats schedule): totals per queue and task type, the
tasks archived that day with their last errors (from the archive, via ``ctx.inspector``)
and the slowest types by p95. It is written to ``<outputDir>/daily-report-<date>.<format>``
(rewritten, not appended, so a re-delivered task does no harm) and, when there are
recipients, attached to a ``task:mail-notify`` mail enqueued with ``ctx.enqueue``.

Payload: ``{"date": "today" | "yesterday" | "YYYY-MM-DD", "recipients": [...],
"format": "html" | "csv"}``; ``recipients`` and ``format`` default to the settings.

Configuration (``plugins.daily_report``)::

    plugins:
      daily_report:
        outputDir: storage/reports   # where the reports are written
        format: html                 # or csv
        recipients: [ops@example.com]
        slowest: 10                  # how many types the "slowest" table lists
        errorsPerType: 5             # archived tasks listed per failing type
        refreshStats: true           # record the day's figures before reporting
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import os
import tempfile
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import bingo_plugin_daily_stats as daily_stats
from bingo_plugin_daily_stats import DaySpec, resolve_day
from bingo_plugin_mail_notify import Addresses
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

import bingo_core as bingo

from .report import Report, build_report

if TYPE_CHECKING:
    from .render import render_csv, render_html

__all__ = [
    "SCHEDULE",
    "TASK_TYPE",
    "DailyReportSettings",
    "Report",
    "ReportPayload",
    "build_report",
    "handle_daily_report",
    "render_csv",
    "render_html",
    "report_path",
]

TASK_TYPE = "task:daily-report"
MAIL_TYPE = "task:mail-notify"
#: The original service's nightly run.
SCHEDULE = "0 2 * * *"
Format = Literal["html", "csv"]
_CONTENT_TYPES = {"html": "text/html", "csv": "text/csv"}


class ReportPayload(BaseModel):
    """Payload of ``task:daily-report``: the day, who gets it (default: the settings'
    ``recipients``; ``[]`` for nobody) and its format (default: the settings')."""

    model_config = ConfigDict(extra="forbid")

    date: DaySpec = "today"
    recipients: Addresses | None = None
    format: Format | None = None


class DailyReportSettings(BaseModel):
    """The ``plugins.daily_report`` section of the configuration."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    output_dir: str = Field(default="storage/reports", min_length=1)
    format: Format = "html"
    recipients: Addresses = []
    slowest: int = Field(default=10, ge=1, le=100)
    errors_per_type: int = Field(default=5, ge=0, le=50)
    refresh_stats: bool = True
    #: When the nightly report runs (any cron form; server time), or null to switch it off.
    schedule: str | None = SCHEDULE

    @model_validator(mode="before")
    @classmethod
    def _removed_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and "timezone" in data:
            raise ValueError("timezone was removed: 'today' is read in server.timezone")
        return data


def report_path(output_dir: str | os.PathLike[str], day: date, fmt: str = "html") -> Path:
    """Where the report of ``day`` is written."""
    return Path(output_dir) / f"daily-report-{day.isoformat()}.{fmt}"


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _mail(ctx: bingo.TaskContext, report: Report, path: Path, fmt: str, to: list[str]) -> str:
    """Enqueue the mail with the report attached; returns the mail task's id. Its id is
    derived from this task's, so a retried report does not mail twice."""
    mail_id = f"{ctx.task_id}-mail"
    payload = {
        "to": to,
        "subject": f"Bingo daily report {report.day.isoformat()}",
        "body": _render().mail_text(report, path.name),
        "attachments": [
            {
                "filename": path.name,
                "content_type": _CONTENT_TYPES[fmt],
                "content": base64.b64encode(path.read_bytes()).decode(),
            }
        ],
    }
    try:
        ctx.enqueue(MAIL_TYPE, payload, task_id=mail_id)
    except bingo.DuplicateTaskError:
        ctx.logger.info("the mail of this report was enqueued by an earlier attempt")
    return mail_id


def _run(ctx: bingo.TaskContext, payload: ReportPayload) -> dict[str, Any]:
    settings: DailyReportSettings = ctx.settings or DailyReportSettings()
    day = resolve_day(payload.date, ctx.timezone)
    fmt = payload.format or settings.format
    if settings.refresh_stats:
        daily_stats.record_day(ctx, day)
    with ctx.db() as session:
        rows = daily_stats.read_day(session, day)
    report = build_report(
        day,
        ctx.timezone,
        rows,
        ctx.inspector,
        slowest=settings.slowest,
        errors_per_type=settings.errors_per_type,
    )
    path = report_path(settings.output_dir, day, fmt)
    render = _render()
    text = render.render_html(report) if fmt == "html" else render.render_csv(report)
    _write_atomically(path, text)
    to = settings.recipients if payload.recipients is None else payload.recipients
    mail_task = _mail(ctx, report, path, fmt, to) if to else None
    ctx.logger.info("daily report for %s written to %s", day.isoformat(), path)
    return {
        "date": day.isoformat(),
        "path": str(path),
        "format": fmt,
        "rows": len(report.lines),
        "mailed_to": to,
        "mail_task": mail_task,
    }


async def handle_daily_report(ctx: bingo.TaskContext, payload: ReportPayload) -> dict[str, Any]:
    """Write the day's report and mail it to its recipients."""
    # The database, Redis reads and file writes block: they run in a thread.
    return await asyncio.to_thread(_run, ctx, payload)


@bingo.hookimpl
def bingo_register_settings(register: bingo.SettingsRegister) -> None:
    """Validate ``plugins.daily_report`` against :class:`DailyReportSettings`."""
    register(DailyReportSettings)


@bingo.hookimpl
def bingo_register_tasks(register: bingo.TaskRegister) -> None:
    """Register ``task:daily-report``."""
    register(TASK_TYPE, handle_daily_report, payload=ReportPayload, max_retry=5, timeout=30)


@bingo.hookimpl
def bingo_register_schedules(register: bingo.ScheduleRegister) -> None:
    """Run the report every night (``schedule``, 02:00 server time by default) for the
    current day; ``schedule: null`` in the plugin's settings switches it off."""
    settings = register.settings
    spec = settings.schedule if isinstance(settings, DailyReportSettings) else SCHEDULE
    if spec:
        register(spec, TASK_TYPE, payload={"date": "today"})


def _render() -> Any:
    """:mod:`.render`, imported on first use: Jinja2 loads when a report is written, not
    when the plugin is loaded (``bingo-scheduler enqueue``, ``plugins``)."""
    return importlib.import_module(".render", __name__)


def __getattr__(name: str) -> Any:
    if name in ("render_csv", "render_html"):
        return getattr(_render(), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

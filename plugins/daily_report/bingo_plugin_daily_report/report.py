"""The day's report as plain data: totals per queue and task type from ``sys_task_stats``,
the archived tasks of the day with their last errors (read through ``ctx.inspector``) and
the slowest types."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

#: Archived tasks read per queue, newest first, when looking for the day's failures.
ARCHIVE_SCAN = 5000
_PAGE = 500


@dataclass
class Failure:
    """One archived task: its id, when it was archived, its retries and last error."""

    task_id: str
    at: datetime | None
    retried: int
    max_retry: int
    error: str


@dataclass
class Line:
    """The figures of one queue and task type for the day."""

    queue: str
    type: str
    processed: int = 0
    failed: int = 0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    max_ms: float = 0.0
    archived: int = 0
    errors: list[Failure] = field(default_factory=list)

    @property
    def failure_rate(self) -> float:
        """Failed attempts over all attempts (0 when there were none)."""
        return self.failed / self.processed if self.processed else 0.0

    @property
    def last_error(self) -> str:
        """The newest archived task's error, or ""."""
        return self.errors[0].error if self.errors else ""


@dataclass
class Report:
    """Everything the HTML and CSV renderings show."""

    day: date
    zone: str
    generated_at: datetime
    lines: list[Line]
    slowest: list[Line]
    recorded_at: datetime | None = None

    @property
    def processed(self) -> int:
        """Attempts of every type."""
        return sum(line.processed for line in self.lines)

    @property
    def failed(self) -> int:
        """Failed attempts of every type."""
        return sum(line.failed for line in self.lines)

    @property
    def archived(self) -> int:
        """Tasks archived during the day."""
        return sum(line.archived for line in self.lines)

    @property
    def failures(self) -> list[Line]:
        """The types that failed or had tasks archived, most archived first."""
        bad = [line for line in self.lines if line.failed or line.archived]
        return sorted(bad, key=lambda line: (-line.archived, -line.failed, line.queue, line.type))


def day_bounds(day: date, zone: tzinfo) -> tuple[float, float]:
    """Epoch seconds of the day's first instant and of the next day's, in ``zone``."""
    start = datetime.combine(day, time(0), zone)
    end = datetime.combine(day + timedelta(days=1), time(0), zone)
    return start.timestamp(), end.timestamp()


def archived_between(inspector: Any, queue: str, start: float, end: float) -> list[Any]:
    """The tasks of ``queue`` archived in ``[start, end)``, newest first (of the newest
    ``ARCHIVE_SCAN`` in its archive)."""
    found_stats = inspector.stats([queue])
    upper = found_stats[0].archived if found_stats else 0
    found: list[Any] = []
    scanned = 0
    while upper > 0 and scanned < ARCHIVE_SCAN:
        offset = max(0, upper - _PAGE)
        page = inspector.tasks(queue, "archived", offset=offset, limit=upper - offset)
        scanned += len(page)
        found += [t for t in page if t.failed_at is not None and start <= t.failed_at < end]
        oldest = min((t.failed_at for t in page if t.failed_at is not None), default=None)
        if oldest is not None and oldest < start:
            break
        upper = offset
    return sorted(found, key=lambda t: t.failed_at or 0.0, reverse=True)


def build_report(
    day: date,
    zone: tzinfo,
    rows: Iterable[Mapping[str, Any]],
    inspector: Any,
    *,
    slowest: int = 10,
    errors_per_type: int = 5,
    now: datetime | None = None,
) -> Report:
    """The report of ``day`` from its ``sys_task_stats`` ``rows`` and the archive."""
    lines: dict[tuple[str, str], Line] = {}
    recorded: list[datetime] = []
    for row in rows:
        key = (str(row["queue"]), str(row["type"]))
        lines[key] = Line(
            queue=key[0],
            type=key[1],
            processed=int(row["processed"]),
            failed=int(row["failed"]),
            p50_ms=float(row["p50_ms"]),
            p95_ms=float(row["p95_ms"]),
            max_ms=float(row["max_ms"]),
        )
        if row.get("created_at") is not None:
            recorded.append(row["created_at"])
    start, end = day_bounds(day, zone)
    for queue in sorted({q for q, _ in lines} | set(inspector.queues())):
        for task in archived_between(inspector, queue, start, end):
            line = lines.setdefault((queue, task.type), Line(queue=queue, type=task.type))
            line.archived += 1
            if len(line.errors) < errors_per_type:
                at = datetime.fromtimestamp(task.failed_at, zone) if task.failed_at else None
                line.errors.append(
                    Failure(task.id, at, task.retried, task.max_retry, task.error or "")
                )
    ordered = sorted(lines.values(), key=lambda line: (line.queue, line.type))
    timed = [line for line in ordered if line.processed]
    return Report(
        day=day,
        zone=str(zone),
        generated_at=now or datetime.now(zone),
        lines=ordered,
        slowest=sorted(timed, key=lambda line: (-line.p95_ms, -line.max_ms))[:slowest],
        recorded_at=max(recorded) if recorded else None,
    )

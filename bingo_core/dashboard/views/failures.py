"""Failures across queues (retrying and archived tasks, newest failure first, filtered by
queue, task type, error text and time) and the task types' statistics (processed,
failed, p50/p95 duration, last error) for a day or in total."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from starlette.routing import Route

from ...records import FailurePage, TypeStats
from ..web import ApiError, Dash, Endpoint, Param, page_route
from .overview import queue_names, require_queue


def _moment(dash: Dash, name: str, raw: str) -> float | None:
    """An ISO-8601 time (read in the server's zone when it names no offset) or epoch
    seconds; None when empty."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        zone = dash.settings.server.timezone
        raise ApiError(
            400,
            f"{name}: expected a time such as 2026-01-31T02:00 (read in {zone} when it "
            f"names no offset) or epoch seconds, got {raw[:40]!r}",
            name,
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dash.zone)
    return moment.timestamp()


def failures(dash: Dash, args: dict[str, Any]) -> FailurePage:
    """Failed tasks of every queue (or one), newest failure first."""
    queue = args["queue"]
    if queue:
        require_queue(dash, queue)
    since = _moment(dash, "since", args["since"])
    until = _moment(dash, "until", args["until"])
    if args["hours"]:
        since = max(since or 0.0, time.time() - args["hours"] * 3600.0)
    return dash.inspector.failures(
        [queue] if queue else queue_names(dash),
        task_type=args["type"],
        text=args["q"],
        since=since,
        until=until,
        offset=args["offset"],
        limit=args["limit"],
    )


@dataclass(frozen=True, slots=True)
class FailuresView:
    """The failures page: the page of failures, the filters as given, and the choices of
    queue and task type."""

    found: FailurePage
    filters: dict[str, str | int]
    queues: list[str]
    types: list[str]


def failures_page(dash: Dash, args: dict[str, Any]) -> FailuresView:
    """The failures page's data."""
    found = failures(dash, args)
    shown = {k: args[k] for k in ("queue", "type", "q", "since", "until", "hours")}
    types = sorted({*dash.app.registry.tasks, *(f.type for f in found.failures)})
    return FailuresView(found, shown, queue_names(dash), types)


@dataclass(frozen=True, slots=True)
class TypesView:
    """The task types page: the day shown (None: in total), today's date, each queue's
    types with their figures."""

    day: str | None
    today: str
    types: list[TypeStats]


def types_page(dash: Dash, args: dict[str, Any]) -> TypesView:
    """Per queue and task type: attempts, failures, p50/p95, last error (a day or total)."""
    today = datetime.now(dash.zone).date().isoformat()
    day = args["day"] or today
    if day == "total":
        return TypesView(None, today, dash.inspector.task_stats(None, queue_names(dash)))
    if not _is_day(day):
        raise ApiError(400, f"day: expected YYYY-MM-DD or total, got {day[:20]!r}", "day")
    return TypesView(day, today, dash.inspector.task_stats(day, queue_names(dash)))


def _is_day(text: str) -> bool:
    try:
        return len(text) == 10 and date.fromisoformat(text) is not None
    except ValueError:
        return False


FILTERS = [
    Param("queue", default="", max_length=200, description="one queue (default: every queue)"),
    Param("type", default="", max_length=1000, description="one task type (exact)"),
    Param("q", default="", max_length=500, description="text in the error (any case)"),
    Param("since", default="", max_length=40, description="failed at or after (ISO or epoch)"),
    Param("until", default="", max_length=40, description="failed at or before (ISO or epoch)"),
    Param("hours", int, 0, minimum=0, maximum=24 * 90, description="failed in the last hours"),
    Param("offset", int, 0, minimum=0, maximum=10**9),
    Param("limit", int, 50, minimum=1, maximum=500),
]
DAY = Param("day", default="", max_length=10, description="YYYY-MM-DD or total (default: today)")


def endpoints() -> list[Endpoint]:
    """The failures' JSON API (the task types' figures are ``GET /task-stats``)."""
    return [
        Endpoint(
            "GET",
            "/failures",
            failures,
            "Retrying and archived tasks of every queue, newest failure first, filtered by "
            "queue, task type, error text and time",
            FILTERS,
            tag="tasks",
            response=FailurePage,
        )
    ]


def pages(dash: Dash) -> list[Route]:
    """The failures page and the task types page."""
    return [
        page_route(dash, "/failures", "failures.html", failures_page, FILTERS, name="failures"),
        page_route(dash, "/types", "types.html", types_page, [DAY], name="types"),
    ]

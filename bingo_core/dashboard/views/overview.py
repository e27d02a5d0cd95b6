"""Overview: the problems found now, then every queue's counts per state, latency, memory,
today's throughput and error rate, pause/resume (the rows the problems name flagged);
charts of the last 7 and 30 days and of the last hour."""

from __future__ import annotations

import time
from datetime import date, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...problems import find_problems
from ...records import STATES, Daily, Overview, QueueOverview, Sample, TypeStats
from ...workflows_view import state_counts
from .. import charts
from ..web import (
    ApiError,
    Dash,
    Endpoint,
    Param,
    action_route,
    api_error_response,
    error_for,
    page_route,
    parse_args,
)

STATE_NAMES = STATES
#: The answer of a pause or a resume.
PAUSED = {"queue": str, "paused": bool}
QUEUE = Param("queue", where="path", max_length=200, description="queue name")


def overview(dash: Dash, args: dict[str, Any]) -> Overview:
    """Every queue with its figures, and the totals."""
    return dash.inspector.overview()


#: The word that flags a queue row, per kind of problem about a queue.
FLAGS = {
    "error_rate": "failing",
    "unserved_queue": "no worker",
    "backlog": "backlog",
    "throttled": "throttled",
    "workflow_failed": "failed",
}


def overview_page(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    """The overview page's data: the problems first, then the queues (with the words
    that flag each queue a problem names, and the worst severity among them), and the
    worst severity of each kind found (which flags the cards of the totals); and today's
    figures per queue and task type."""
    found = find_problems(dash.inspector, dash.settings)
    flags: dict[str, list[str]] = {}
    worst: dict[str, str] = {}
    kinds: dict[str, str] = {}
    for p in found:
        if kinds.get(p.kind) != "critical":
            kinds[p.kind] = p.severity
        if p.queue is not None:
            flags.setdefault(p.queue, []).append(FLAGS[p.kind])
            if worst.get(p.queue) != "critical":
                worst[p.queue] = p.severity
    data = overview(dash, args)
    today = datetime.now(dash.zone).date().isoformat()
    return {
        "types": dash.inspector.task_stats(today, [q.queue for q in data.queues]),
        "batches": dash.inspector.batches([q.queue for q in data.queues]),
        "today": today,
        "queues": data.queues,
        "totals": data.totals,
        "problems": found,
        "flags": flags,
        "worst": worst,
        "kinds": kinds,
        "flag_words": FLAGS,
        "workflows": state_counts(dash.app.broker, [q.queue for q in data.queues]),
    }


def queue_names(dash: Dash) -> list[str]:
    """Queues that exist in Redis or are configured for the workers."""
    return sorted({*dash.inspector.queues(), *dash.settings.worker.queues})


def require_queue(dash: Dash, queue: str) -> None:
    """404 for a queue that is neither in Redis nor configured."""
    if queue not in queue_names(dash):
        known = ", ".join(queue_names(dash)) or "none yet"
        raise ApiError(404, f"unknown queue {queue!r} (known: {known})", "queue")


def queue_info(dash: Dash, args: dict[str, Any]) -> QueueOverview:
    """One queue's figures."""
    require_queue(dash, args["queue"])
    return dash.inspector.overview([args["queue"]]).queues[0]


def pause(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    """Pause a queue: workers stop fetching from it."""
    require_queue(dash, args["queue"])
    dash.inspector.pause(args["queue"])
    return {"queue": args["queue"], "paused": True}


def resume(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    """Resume a paused queue."""
    require_queue(dash, args["queue"])
    dash.inspector.resume(args["queue"])
    return {"queue": args["queue"], "paused": False}


def delete_queue(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    """Delete a queue (with ``force``, its tasks too)."""
    if args["queue"] not in dash.inspector.queues():
        raise ApiError(404, f"unknown queue {args['queue']!r}", "queue")
    deleted = dash.inspector.delete_queue(args["queue"], force=bool(args["force"]))
    return {"queue": args["queue"], "deleted_tasks": deleted}


def daily(dash: Dash, args: dict[str, Any]) -> Daily:
    """Processed and failed attempts per day."""
    queues = [args["queue"]] if args.get("queue") else None
    if queues:
        require_queue(dash, args["queue"])
    return dash.inspector.daily(args["days"], queues)


def samples(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    """Queue sizes sampled over the last ``minutes``."""
    return {"minutes": args["minutes"], "samples": dash.inspector.samples(args["minutes"])}


def task_stats(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    """Per queue and type: processed, failed, durations (for a day in the server's time
    zone, or in total)."""
    day = args.get("day") or None
    if day is not None and not _is_day(day):
        raise ApiError(400, f"day: expected YYYY-MM-DD, got {day[:20]!r}", "day")
    return {"day": day, "types": dash.inspector.task_stats(day)}


def _is_day(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def daily_chart(dash: Dash, args: dict[str, Any]) -> Response:
    """The per-day chart as SVG."""
    data = daily(dash, args)
    found = data.queues[args["queue"]] if args.get("queue") else data.total
    series = {"processed": found.processed, "failed": found.failed}
    days = args["days"]
    every = 1 if days <= 10 else 5
    title = f"processed and failed per day, last {days} days"
    svg = charts.bars(title, data.days, series, every)
    return Response(svg, media_type="image/svg+xml", headers={"cache-control": "no-store"})


def sizes_chart(dash: Dash, args: dict[str, Any]) -> Response:
    """Queue sizes over the last hour as SVG (one queue, or all summed)."""
    found = dash.inspector.samples(args["minutes"])
    queue = args.get("queue") or ""
    times: list[float] = []
    series: dict[str, list[float]] = {s: [] for s in STATE_NAMES[:5]}
    for sample in found:
        per_queue = sample.q
        picked = [per_queue.get(queue) or {}] if queue else list(per_queue.values())
        times.append(sample.t)
        for state in series:
            series[state].append(float(sum(int(q.get(state, 0)) for q in picked)))
    title = f"queue sizes, last {args['minutes']} minutes"
    svg = charts.lines(title, times, series, dash.zone, args["minutes"] * 60.0, time.time())
    return Response(svg, media_type="image/svg+xml", headers={"cache-control": "no-store"})


DAYS = Param("days", int, 7, minimum=1, maximum=90, description="how many days, today last")
MINUTES = Param("minutes", int, 60, minimum=1, maximum=180)
OPT_QUEUE = Param("queue", default="", max_length=200, description="one queue (default: all)")


def endpoints() -> list[Endpoint]:
    """The overview's JSON API."""
    return [
        Endpoint(
            "GET",
            "/overview",
            overview,
            "Every queue's figures and the totals",
            tag="queues",
            response=Overview,
        ),
        Endpoint(
            "GET",
            "/queues/{queue}",
            queue_info,
            "One queue's figures",
            [QUEUE],
            tag="queues",
            response=QueueOverview,
        ),
        Endpoint(
            "POST",
            "/queues/{queue}/pause",
            pause,
            "Pause a queue",
            [QUEUE],
            tag="queues",
            response=PAUSED,
        ),
        Endpoint(
            "POST",
            "/queues/{queue}/resume",
            resume,
            "Resume a queue",
            [QUEUE],
            tag="queues",
            response=PAUSED,
        ),
        Endpoint(
            "DELETE",
            "/queues/{queue}",
            delete_queue,
            "Delete a queue (refused while it holds tasks, unless force)",
            [QUEUE, Param("force", bool, False)],
            tag="queues",
            response={"queue": str, "deleted_tasks": int},
        ),
        Endpoint(
            "GET",
            "/daily",
            daily,
            "Processed and failed attempts per day",
            [DAYS, OPT_QUEUE],
            tag="queues",
            response=Daily,
        ),
        Endpoint(
            "GET",
            "/samples",
            samples,
            "Queue sizes sampled by the daemons (every 10 s)",
            [MINUTES],
            tag="queues",
            response={"minutes": int, "samples": list[Sample]},
        ),
        Endpoint(
            "GET",
            "/task-stats",
            task_stats,
            "Per queue and task type: attempts, failures, duration histogram",
            [Param("day", default="", max_length=10, description="YYYY-MM-DD (default: total)")],
            tag="queues",
            response={"day": str | None, "types": list[TypeStats]},
        ),
    ]


def _pause_form(dash: Dash, args: dict[str, Any], form: dict[str, Any]) -> tuple[str, str]:
    pause(dash, args)
    return "", f"paused {args['queue']}: workers stop fetching from it (tasks still enqueue)"


def _resume_form(dash: Dash, args: dict[str, Any], form: dict[str, Any]) -> tuple[str, str]:
    resume(dash, args)
    return "", f"resumed {args['queue']}"


def pages(dash: Dash) -> list[Route]:
    """The overview page, its charts and its form posts."""

    async def chart(request: Request, func: Any, params: list[Param]) -> Response:
        try:
            args = parse_args(params, request)
            result: Response = await run_in_threadpool(func, dash, args)
        except Exception as exc:  # a bad parameter: the JSON refusal
            return api_error_response(error_for(exc))
        return result

    async def daily_svg(request: Request) -> Response:
        return await chart(request, daily_chart, [DAYS, OPT_QUEUE])

    async def sizes_svg(request: Request) -> Response:
        return await chart(request, sizes_chart, [MINUTES, OPT_QUEUE])

    return [
        page_route(dash, "", "overview.html", overview_page, name="overview"),
        page_route(dash, "/", "overview.html", overview_page, name="overview_slash"),
        Route(f"{dash.prefix}/charts/daily.svg", daily_svg, name="chart_daily"),
        Route(f"{dash.prefix}/charts/sizes.svg", sizes_svg, name="chart_sizes"),
        action_route(dash, "/queues/{queue}/pause", _pause_form, name="pause"),
        action_route(dash, "/queues/{queue}/resume", _resume_form, name="resume"),
    ]

"""Schedules: every published entry (paged) with its source, spec, zone, next five fire
times, last fire and its task, missed ticks and history; the leader; "run now"."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, Field
from starlette.routing import Route

from ...broker.scripts import is_workflow_id
from ...errors import CronSpecError, EntryNotFound
from ...records import (
    HistoryItem,
    Leader,
    Many,
    ScheduleEntry,
    SchedulePage,
    Shape,
    SyncStatus,
)
from ...registry import SOURCE_KINDS, source_kind
from ...scheduler.cron import CronSchedule, parse_spec
from ...scheduler.entries import CompiledEntry
from ...scheduler.rows import resolve_entry
from ..web import ApiError, Dash, Endpoint, Param, action_route, page_route
from .workflows import workflow_url

#: Fire times shown per entry.
NEXT = 5


@lru_cache(maxsize=20000)
def _schedule(spec: str, zone: str) -> CronSchedule:
    return parse_spec(spec, zone)


def next_fires(spec: str, zone: str, n: int = NEXT, after: float | None = None) -> list[float]:
    """The next ``n`` fire times (epoch s) of ``spec`` in ``zone``; [] when it does not parse."""
    try:
        schedule = _schedule(spec, zone)
    except CronSpecError:
        return []
    out: list[float] = []
    moment = time.time() if after is None else after
    for _ in range(n):
        try:
            moment = schedule.next_timestamp(moment)
        except (ValueError, OverflowError):
            break
        out.append(moment)
    return out


@dataclass(frozen=True, slots=True)
class HistoryRow(HistoryItem):
    """A history item with the page of the task it enqueued."""

    task_url: str | None = None


@dataclass(frozen=True, slots=True)
class EntryRow(ScheduleEntry):
    """An entry as the pages and the API show it: its record with its zone ("-" for
    ``@every``), next fire times, links and the kind of its source."""

    next_fires: list[float] = field(default_factory=list)
    url: str = ""
    last_task_url: str | None = None
    source_kind: str = ""


def _tasks_of(entries: list[ScheduleEntry]) -> list[tuple[str, str]]:
    """The ``(queue, id)`` of every task the entries name (last task, history)."""
    out = []
    for e in entries:
        named = [e.last_task_id, *(h.task_id for h in e.history or [])]
        out += [(e.queue or "default", i) for i in named if i]
    return out


def _decorate(dash: Dash, entry: ScheduleEntry, kept: set[tuple[str, str]]) -> EntryRow:
    """``entry`` as the pages and the API show it; a task it names links to its page only
    while the task is ``kept``."""
    queue = entry.queue or "default"

    def task_url(task_id: str | None) -> str | None:
        if not task_id or (queue, task_id) not in kept:
            return None
        if is_workflow_id(task_id):  # the tick of an entry that starts a workflow
            return workflow_url(dash, task_id)
        return dash.task_url(queue, task_id)

    history = None
    if entry.history is not None:
        history = [
            HistoryRow(
                **{f.name: getattr(h, f.name) for f in fields(h)}, task_url=task_url(h.task_id)
            )
            for h in entry.history
        ]
    known = {f.name: getattr(entry, f.name) for f in fields(entry)}
    known.update(timezone=entry.timezone or "-", history=history)  # @every: no zone
    return EntryRow(
        **known,
        next_fires=next_fires(entry.spec or "", entry.timezone or dash.settings.server.timezone),
        url=dash.url("/schedules/entry", key=entry.key),
        last_task_url=task_url(entry.last_task_id),
        source_kind=source_kind(entry.source or entry.key),
    )


def schedule_list(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    """A page of the entries, the leader and the sync status."""
    page = dash.inspector.schedule_page(args["offset"], args["limit"], args["q"], args["source"])
    kept = dash.inspector.existing(_tasks_of(page.entries))
    sync = page.sync or SyncStatus()
    return {
        "total": page.total,
        "offset": page.offset,
        "limit": page.limit,
        "entries": [_decorate(dash, e, kept) for e in page.entries],
        "leader": page.leader,
        "sync": page.sync,
        "q": args["q"],
        "source": args["source"],
        "has_prev": args["offset"] > 0,
        "has_next": args["offset"] + args["limit"] < page.total,
        "sync_summary": {
            "errors": len(sync.errors or {}),
            "static_errors": list(sync.static_errors or []),
            "db_ok": sync.healthy,
            "db_error": sync.db_error,
            "last_success": sync.last_success,
        },
    }


def schedule_entry(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    """One entry with its history (each enqueue links to its task)."""
    entry = dash.inspector.schedule_entry(args["key"], args["history"])
    if entry is None:
        raise ApiError(404, f"no published schedule entry {args['key']!r}", "key")
    kept = dash.inspector.existing(_tasks_of([entry]))
    return {"entry": _decorate(dash, entry, kept), "leader": dash.inspector.leader()}


#: An entry as the pages and the API show it (see :class:`EntryRow`).
ENTRY = Shape.of(EntryRow, timezone=str, history=Many(Shape.of(HistoryRow)))
ENTRY = Shape(ENTRY.keys, ENTRY.optional | {"history"})
#: The answer of ``GET /schedules``.
SCHEDULE_PAGE = Shape.of(
    SchedulePage,
    entries=Many(ENTRY),
    q=str,
    source=str,
    has_prev=bool,
    has_next=bool,
    sync_summary={
        "errors": int,
        "static_errors": list[str],
        "db_ok": bool,
        "db_error": str | None,
        "last_success": float | None,
    },
)


class RunBody(BaseModel):
    """Which entry to run now."""

    key: str = Field(min_length=1, max_length=1000, description="the entry's key")


def resolve(dash: Dash, key: str) -> CompiledEntry:
    """The compiled entry ``key`` as this process sees it (plugins, config, sys_crontab)."""
    try:
        return resolve_entry(
            key, dash.settings, dash.app.registry, lambda row_id: dash.store().get(row_id)
        )
    except EntryNotFound as exc:
        raise ApiError(404, str(exc), "key") from None


def run_entry(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    """Enqueue the entry's task type and payload once, now (not a tick: no dedupe); an
    entry that starts a workflow starts it (``workflow``: id, queue, step task ids)."""
    key = args["body"].key
    compiled = resolve(dash, key)
    info = dash.app.client.run_entry(compiled)
    return {"key": key, "task" if compiled.flow is None else "workflow": info.to_dict()}


SCHED_PARAMS = [
    Param("offset", int, 0, minimum=0, maximum=10**9),
    Param("limit", int, 50, minimum=1, maximum=500),
    Param("q", default="", max_length=200, description="text in the entry key"),
    Param("source", default="", choices=("", *SOURCE_KINDS)),
]
KEY = Param("key", default="", max_length=1000, description="the entry key (source|name)")
HISTORY = Param("history", int, 100, minimum=0, maximum=1000)


def endpoints() -> list[Endpoint]:
    """The schedules' JSON API."""
    return [
        Endpoint(
            "GET",
            "/schedules",
            schedule_list,
            "A page of the published schedule entries, the leader, the sync status",
            SCHED_PARAMS,
            tag="schedules",
            response=SCHEDULE_PAGE,
        ),
        Endpoint(
            "GET",
            "/schedules/entry",
            _entry_checked,
            "One entry with its enqueue history",
            [KEY, HISTORY],
            tag="schedules",
            response={"entry": ENTRY, "leader": Leader},
        ),
        Endpoint(
            "POST",
            "/schedules/run",
            run_entry,
            "Enqueue an entry's task type and payload (or start its workflow) once, now",
            body=RunBody,
            tag="schedules",
            status=201,
        ),
    ]


def _entry_checked(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    if not args["key"]:
        raise ApiError(400, "key is required", "key")
    return schedule_entry(dash, args)


def _run_form(dash: Dash, args: dict[str, Any], form: dict[str, Any]) -> tuple[str, str]:
    key = str(form.get("key") or "")
    if not key:
        raise ApiError(400, "key is required", "key")
    done = run_entry(dash, {"body": RunBody(key=key)})
    if "workflow" in done:
        wf = done["workflow"]
        return workflow_url(dash, wf["id"]), f"started workflow {wf['id']}"
    task = done["task"]
    return dash.task_url(task["queue"], task["id"]), f"enqueued {task['id']}"


def pages(dash: Dash) -> list[Route]:
    """The schedule pages and "run now"."""
    return [
        page_route(
            dash, "/schedules", "schedules.html", schedule_list, SCHED_PARAMS, name="schedules"
        ),
        page_route(
            dash, "/schedules/entry", "entry.html", _entry_checked, [KEY, HISTORY], name="entry"
        ),
        action_route(dash, "/schedules/run", _run_form, name="run_entry"),
    ]

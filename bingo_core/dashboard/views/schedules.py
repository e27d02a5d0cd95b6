"""Schedules: every published entry (paged) with its source, spec, zone, next five fire
times, last fire and its task, missed ticks and history; the leader; "run now"."""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, Field
from starlette.routing import Route

from ...errors import CronSpecError, UsageError
from ..web import ApiError, Dash, Endpoint, Param, action_route, page_route

#: Fire times shown per entry.
NEXT = 5


@lru_cache(maxsize=20000)
def _schedule(spec: str, zone: str) -> Any:
    from ...scheduler.cron import parse_spec

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


def _decorate(dash: Dash, entry: dict[str, Any]) -> dict[str, Any]:
    zone = entry.get("timezone") or dash.settings.server.timezone
    entry["timezone"] = entry.get("timezone") or "-"  # @every entries have none
    entry["next_fires"] = next_fires(str(entry.get("spec", "")), str(zone))
    entry["url"] = dash.url("/schedules/entry", key=entry["key"])
    queue = entry.get("queue") or "default"
    last = entry.get("last_task_id")
    entry["last_task_url"] = dash.url(f"/queues/{queue}/tasks/{last}") if last else None
    source = str(entry.get("source") or entry["key"].split("|", 1)[0])
    entry["source_kind"] = source.split(":", 1)[0]
    return entry


def schedule_list(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    """A page of the entries, the leader and the sync status."""
    page = dash.inspector.schedule_page(args["offset"], args["limit"], args["q"], args["source"])
    page["entries"] = [_decorate(dash, e) for e in page["entries"]]
    page["q"] = args["q"]
    page["source"] = args["source"]
    page["has_prev"] = args["offset"] > 0
    page["has_next"] = args["offset"] + args["limit"] < page["total"]
    sync = page.get("sync") or {}
    page["sync_summary"] = {
        "errors": len(sync.get("errors") or {}),
        "static_errors": list(sync.get("static_errors") or []),
        "db_ok": sync.get("db_ok", True),
        "db_error": sync.get("db_error"),
        "last_success": sync.get("last_success"),
    }
    return page


def schedule_entry(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    """One entry with its history (each enqueue links to its task)."""
    entry = dash.inspector.schedule_entry(args["key"], args["history"])
    if entry is None:
        raise ApiError(404, f"no published schedule entry {args['key']!r}", "key")
    entry = _decorate(dash, entry)
    queue = entry.get("queue") or "default"
    for item in entry["history"]:
        task_id = item.get("task_id")
        item["task_url"] = dash.url(f"/queues/{queue}/tasks/{task_id}") if task_id else None
    return {"entry": entry, "leader": dash.inspector.leader()}


class RunBody(BaseModel):
    """Which entry to run now."""

    key: str = Field(min_length=1, max_length=1000, description="the entry's key")


def resolve(dash: Dash, key: str) -> Any:
    """The compiled entry ``key`` as this process sees it (plugins, config, sys_crontab)."""
    from ...scheduler.entries import compile_entry
    from ...scheduler.service import static_entries
    from ...scheduler.sync import compile_row

    source = key.split("|", 1)[0]
    zone = dash.settings.server.timezone
    if source.startswith("db:"):
        row_id = source[3:]
        row = dash.store().get(int(row_id)) if row_id.isdigit() else None
        if row is None:
            raise ApiError(404, f"no sys_crontab row for entry {key!r}", "key")
        return compile_row(
            row.id, row.name, row.type, row.spec, row.payload, dash.app.registry, zone
        )
    entries, _ = static_entries(dash.settings, dash.app.registry)
    for entry in entries:
        if entry.key == key:
            return compile_entry(entry, dash.app.registry, zone)
    raise ApiError(404, f"no schedule entry {key!r} in this daemon's plugins or config", "key")


def run_entry(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    """Enqueue the entry's task type and payload once, now (not a tick: no dedupe)."""
    from ...broker import refusal
    from ...broker.scripts import ENQUEUED
    from ...client import Template
    from ...options import OPTION_NAMES

    key = args["body"].key
    compiled = resolve(dash, key)
    options = {k: v for k, v in compiled.options.items() if k in OPTION_NAMES}
    template = Template.build(compiled.task_type, options)
    now = time.time()
    prepared = template.prepare(compiled.payload_json, now, source=key)
    code = dash.app.broker.enqueue([prepared])[0]
    if code != ENQUEUED:
        raise refusal(code, prepared)
    import json

    info = template.info(prepared, json.loads(compiled.payload_json), now, key)
    return {"key": key, "task": info.to_dict()}


SCHED_PARAMS = [
    Param("offset", int, 0, minimum=0, maximum=10**9),
    Param("limit", int, 50, minimum=1, maximum=500),
    Param("q", default="", max_length=200, description="text in the entry key"),
    Param("source", default="", choices=("", "plugin", "config", "db")),
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
        ),
        Endpoint(
            "GET",
            "/schedules/entry",
            _entry_checked,
            "One entry with its enqueue history",
            [KEY, HISTORY],
            tag="schedules",
        ),
        Endpoint(
            "POST",
            "/schedules/run",
            run_entry,
            "Enqueue an entry's task type and payload once, now",
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
    try:
        done = run_entry(dash, {"body": RunBody(key=key)})
    except UsageError:
        raise
    task = done["task"]
    return dash.url(f"/queues/{task['queue']}/tasks/{task['id']}"), f"enqueued {task['id']}"


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

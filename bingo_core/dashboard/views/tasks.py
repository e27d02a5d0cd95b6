"""Tasks of a queue per state (paging, search, actions on one, a selection or all) and
one task's detail."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

from pydantic import BaseModel, Field
from starlette.routing import Route

from ...errors import TaskNotFound, UsageError
from ...message import TaskInfo
from ...records import Many, Maybe, MoveResult, QueueOverview, Shape
from ..web import ApiError, Dash, Endpoint, Param, action_route, page_route
from .overview import QUEUE, STATE_NAMES, require_queue

#: Most tasks one search looks at (from its start position); it can be continued.
SEARCH_SCAN = 2000
#: Actions per state, as the task pages offer them.
ACTIONS_BY_STATE = {
    "pending": ("cancel", "archive", "delete"),
    "active": ("cancel",),
    "scheduled": ("run", "cancel", "archive", "delete"),
    "retry": ("run", "cancel", "archive", "delete"),
    "archived": ("retry", "delete"),
    "completed": ("run", "delete"),
    "waiting": ("run", "cancel", "archive", "delete"),
}
TASK_ACTIONS = ("run", "retry", "archive", "delete", "cancel")
BULK_ACTIONS = ("run", "retry", "archive", "delete")
LABELS = {
    "run": "Run now",
    "retry": "Retry",
    "archive": "Archive",
    "delete": "Delete",
    "cancel": "Cancel",
}

STATE = Param("state", default="pending", choices=STATE_NAMES)
TASK_ID = Param("task_id", where="path", max_length=200, description="task id")


@dataclass(frozen=True)
class TaskRow(TaskInfo):
    """A task as the pages and the API show it: its info, its payload on one line, how
    long its last attempt ran, when its cancel was asked, the actions its state allows,
    and (in a list) its state when it is not the page's (a search by id finds any)."""

    payload_text: str = ""
    duration: float | None = None
    cancel_requested: float | None = None
    actions: list[str] = field(default_factory=list)
    other_state: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The row as JSON-ready data (``other_state`` only in a list)."""
        out = super().to_dict()
        if self.other_state is None:
            del out["other_state"]
        return out


def task_row(
    info: TaskInfo, cancel: dict[str, float] | None = None, page_state: str | None = None
) -> TaskRow:
    """A task as the pages and the API show it; ``page_state``: the state of the list it
    is shown in."""
    end = info.completed_at or info.failed_at
    return TaskRow(
        **{f.name: getattr(info, f.name) for f in fields(TaskInfo)},
        payload_text=_compact(info.payload),
        duration=end - info.started_at if end and info.started_at else None,
        cancel_requested=(cancel or {}).get(info.id),
        actions=list(ACTIONS_BY_STATE.get(info.state, ())),
        other_state=None if page_state is None else _other(info, page_state),
    )


def _other(info: TaskInfo, state: str) -> str:
    """The task's state when it is not the page's (a search by id finds any state)."""
    return info.state if info.state != state else ""


def _compact(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def task_list(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    """A page of a queue's tasks in one state, or the matches of a search."""
    queue, state = args["queue"], args["state"]
    require_queue(dash, queue)
    inspector = dash.inspector
    row = inspector.overview([queue]).queues[0]
    text = (args.get("q") or "").strip()
    where = args.get("where") or "any"
    search: dict[str, Any] | None = None
    offset, limit = args["offset"], args["limit"]
    if text and where == "id":
        try:
            infos = [inspector.task(queue, text)]
        except TaskNotFound:  # no such id: an empty result, not an error
            infos = []
        search = {"q": text, "where": where, "scanned": len(infos), "next": None, "start": 0}
    elif text:
        found = inspector.search(
            queue, state, text, where, start=args["start"], scan=SEARCH_SCAN, limit=limit
        )
        infos = found.tasks
        search = {
            "q": text,
            "where": where,
            "scanned": found.scanned,
            "next": found.next,
            "start": args["start"],
        }
    else:
        infos = inspector.tasks(queue, state, offset=offset, limit=limit)
    active = [t.id for t in infos if t.state == "active"]
    cancel = inspector.cancel_requested(queue, active) if active else {}
    total = row.count(state)
    return {
        "queue": queue,
        "state": state,
        "states": list(STATE_NAMES),
        "counts": {s: row.count(s) for s in STATE_NAMES},
        "info": row,
        "paused": row.paused,
        "total": total,
        "offset": offset,
        "limit": limit,
        "has_prev": offset > 0 and search is None,
        "has_next": offset + limit < total and search is None,
        "tasks": [task_row(t, cancel, state) for t in infos],
        "search": search,
        "actions": list(ACTIONS_BY_STATE[state]),
        "bulk_actions": [a for a in ACTIONS_BY_STATE[state] if a in BULK_ACTIONS],
    }


def task_detail(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    """One task with everything known about it."""
    require_queue(dash, args["queue"])
    info = dash.inspector.task(args["queue"], args["task_id"])
    cancel = (
        dash.inspector.cancel_requested(info.queue, [info.id]) if info.state == "active" else {}
    )
    task = task_row(info, cancel)
    entry = None
    if info.source:
        entry = {"key": info.source, "url": dash.url("/schedules/entry", key=info.source)}
    return {"task": task, "entry": entry}


def act(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    """One action on one task (409 when the task's state does not allow it)."""
    queue, task_id, action = args["queue"], args["task_id"], args["action"]
    require_queue(dash, queue)
    try:
        if action == "cancel":
            info = dash.inspector.cancel(task_id, queue, by="the dashboard")
            asked = info.state == "active"
            return {"id": info.id, "queue": queue, "action": action, "requested": asked}
        info = dash.inspector.act(action, task_id, queue)
    except TaskNotFound:
        raise
    except UsageError as exc:  # already in that state, or held by a worker
        raise ApiError(409, str(exc), "action") from None
    return {"id": info.id, "queue": queue, "action": action, "done": True}


class BulkBody(BaseModel):
    """A bulk action on chosen tasks."""

    action: str = Field(json_schema_extra={"enum": list(BULK_ACTIONS)})
    ids: list[str] = Field(min_length=1, max_length=10000)


def act_selection(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    """One action on a selection of tasks."""
    body: BulkBody = args["body"]
    if body.action not in BULK_ACTIONS:
        raise ApiError(400, f"action: expected one of {', '.join(BULK_ACTIONS)}", "action")
    require_queue(dash, args["queue"])
    result = dash.inspector.act_many(body.action, args["queue"], body.ids)
    return {
        "queue": args["queue"],
        "action": body.action,
        "done": result.done,
        "skipped": result.skipped,
    }


def act_all(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    """One action on every task of a state."""
    queue, state, action = args["queue"], args["state"], args["action"]
    require_queue(dash, queue)
    if state == "active":
        raise ApiError(400, "active tasks are held by workers: cancel them one by one", "state")
    try:
        done = dash.inspector.act_state(action, queue, state)
    except UsageError as exc:  # e.g. run the pending tasks: they are pending already
        raise ApiError(409, str(exc), "action") from None
    return {"queue": queue, "state": state, "action": action, "done": done}


#: A task as the pages and the API show it (see :class:`TaskRow`).
TASK = Shape.of(TaskRow, exclude=("extra", "other_state"))
#: The answer of ``GET /queues/{queue}/tasks``.
TASK_PAGE = {
    "queue": str,
    "state": str,
    "states": list[str],
    "counts": dict[str, int],
    "info": QueueOverview,
    "paused": bool,
    "total": int,
    "offset": int,
    "limit": int,
    "has_prev": bool,
    "has_next": bool,
    "tasks": Many(Shape.of(TaskRow, exclude=("extra",))),
    "search": Maybe({"q": str, "where": str, "scanned": int, "next": int | None, "start": int}),
    "actions": list[str],
    "bulk_actions": list[str],
}

PAGING = [
    Param("offset", int, 0, minimum=0, maximum=10**9),
    Param("limit", int, 50, minimum=1, maximum=500),
    Param("q", default="", max_length=500, description="search text (id, payload or error)"),
    Param("where", default="any", choices=("any", "id", "payload", "error")),
    Param("start", int, 0, minimum=0, maximum=10**9, description="where a search goes on"),
]


def endpoints() -> list[Endpoint]:
    """The tasks' JSON API."""
    return [
        Endpoint(
            "GET",
            "/queues/{queue}/tasks",
            task_list,
            "A page of a queue's tasks in one state, or the matches of a bounded search",
            [QUEUE, STATE, *PAGING],
            tag="tasks",
            response=TASK_PAGE,
        ),
        Endpoint(
            "GET",
            "/queues/{queue}/tasks/{task_id}",
            task_detail,
            "One task: payload, options, state, retries, error, timing, result",
            [QUEUE, TASK_ID],
            tag="tasks",
            response={"task": TASK, "entry": Maybe({"key": str, "url": str})},
        ),
        Endpoint(
            "POST",
            "/queues/{queue}/tasks/{task_id}/{action}",
            act,
            "Run now, retry, archive, delete or cancel one task",
            [QUEUE, TASK_ID, Param("action", where="path", choices=TASK_ACTIONS)],
            tag="tasks",
            response=Shape(
                {"id": str, "queue": str, "action": str, "done": bool, "requested": bool},
                frozenset({"done", "requested"}),
            ),
        ),
        Endpoint(
            "POST",
            "/queues/{queue}/tasks-bulk",
            act_selection,
            "One action on a selection of tasks",
            [QUEUE],
            body=BulkBody,
            tag="tasks",
            response=Shape.of(MoveResult, queue=str, action=str),
        ),
        Endpoint(
            "POST",
            "/queues/{queue}/states/{state}/{action}",
            act_all,
            "One action on every task of a state",
            [
                QUEUE,
                Param("state", where="path", choices=STATE_NAMES),
                Param("action", where="path", choices=BULK_ACTIONS),
            ],
            tag="tasks",
            response={"queue": str, "state": str, "action": str, "done": int},
        ),
    ]


def _act_form(dash: Dash, args: dict[str, Any], form: dict[str, Any]) -> tuple[str, str]:
    action = args["action"]
    if action not in TASK_ACTIONS:
        raise ApiError(404, f"unknown action {action!r}", "action")
    result = act(dash, args)
    done = {
        "run": "moved to pending",
        "retry": "moved to pending",
        "archive": "archived",
        "delete": "deleted",
        "cancel": "cancel requested" if result.get("requested") else "cancelled (archived)",
    }[action]
    to = ""
    if action == "delete":
        to = dash.queue_url(args["queue"])
    return to, f"task {args['task_id']}: {done}"


def _bulk_form(dash: Dash, args: dict[str, Any], form: dict[str, Any]) -> tuple[str, str]:
    queue = args["queue"]
    action = str(form.get("action") or "")
    if action not in BULK_ACTIONS:
        raise ApiError(400, f"action: expected one of {', '.join(BULK_ACTIONS)}", "action")
    if form.get("scope") == "all":
        state = str(form.get("state") or "")
        if state not in STATE_NAMES:
            raise ApiError(400, "state: expected a task state", "state")
        n = act_all(dash, {"queue": queue, "state": state, "action": action})["done"]
        return "", f"{LABELS[action].lower()}: {n} {state} task(s)"
    ids = [i for i in form.get("ids") or [] if i]
    if not ids:
        raise ApiError(400, "select at least one task", "ids")
    require_queue(dash, queue)
    result = dash.inspector.act_many(action, queue, ids)
    text = f"{LABELS[action].lower()}: {result.done} task(s)"
    if result.skipped:
        text += f", {len(result.skipped)} skipped"
    return "", text


def pages(dash: Dash) -> list[Route]:
    """The task pages and their form posts."""
    return [
        page_route(
            dash, "/queues/{queue}", "tasks.html", task_list, [QUEUE, STATE, *PAGING], name="tasks"
        ),
        page_route(
            dash,
            "/queues/{queue}/tasks/{task_id}",
            "task.html",
            task_detail,
            [QUEUE, TASK_ID],
            name="task",
        ),
        action_route(dash, "/queues/{queue}/tasks/{task_id}/{action}", _act_form, name="task_act"),
        action_route(dash, "/queues/{queue}/bulk", _bulk_form, name="bulk"),
    ]

"""Workflows: the list (newest first, paged, by state, by id or id prefix) and one
workflow's page (its steps as the flow's tree, each with state, timing, result and
progress; Cancel, and Retry of the failed step through the task's own retry action)."""

from __future__ import annotations

import time
from typing import Any

from starlette.routing import Route

from ...message import TaskInfo
from ...records import Many, Maybe, TaskProgress
from ...workflows_view import (
    STATES,
    WorkflowView,
    cancel_workflow,
    failure_unused,
    result_text,
    search_workflows,
    shorten,
    step_duration,
    workflow_detail,
)
from ..paths import segment
from ..web import Dash, Endpoint, Param, action_route, page_route
from .overview import queue_names

#: The head every workflow id has; a search without it gets it.
ID_HEAD = "wf-"
#: How much of a step's result a row shows (the whole is its title and its task page).
RESULT_SHOWN = 200

WORKFLOW_ID = Param("workflow_id", where="path", max_length=200, description="workflow id")
LIST_PARAMS = [
    Param("state", default="", choices=("", *STATES), description="one state (default: any)"),
    Param("q", default="", max_length=200, description="a workflow id, or its first characters"),
    Param("offset", int, 0, minimum=0, maximum=10**9),
    Param("limit", int, 50, minimum=1, maximum=500),
]


def workflow_url(dash: Dash, workflow_id: str) -> str:
    """The page of one workflow (its id one encoded path segment)."""
    return dash.url(f"/workflows/{segment(workflow_id)}")


def _row(dash: Dash, w: WorkflowView, now: float) -> dict[str, Any]:
    return {
        "id": w.id,
        "queue": w.queue,
        "state": w.state,
        "total": w.total,
        "done": w.done,
        "created": w.created,
        "ended": w.ended,
        "duration": w.duration,
        "running_for": (now - w.created) if w.state == "running" else None,
        "error": w.error,
        "failed_step": w.failed_step,
        "url": workflow_url(dash, w.id),
    }


def _prefix(text: str) -> str:
    """The id prefix searched: ``text`` with the id head when it lacks one."""
    text = text.strip()
    if text and not text.startswith(ID_HEAD) and not ID_HEAD.startswith(text):
        return ID_HEAD + text
    return text


def workflow_list(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    """A page of the workflows kept, newest first, by state and id prefix."""
    offset, limit = args["offset"], args["limit"]
    found = search_workflows(
        dash.app.broker,
        queue_names(dash),
        state=args["state"],
        prefix=_prefix(args["q"]),
        offset=offset,
        limit=limit,
    )
    now = time.time()
    return {
        "workflows": [_row(dash, w, now) for w in found.workflows],
        "state": args["state"],
        "q": args["q"].strip(),
        "states": list(STATES),
        "total": found.total,
        "scanned": found.scanned,
        "complete": found.complete,
        "offset": offset,
        "limit": limit,
        "has_prev": offset > 0,
        "has_next": offset + limit < found.total,
    }


def _missing(index: int, task_id: str, state: str) -> dict[str, Any]:
    """A step with no task (an on_failure step not written, or a task deleted)."""
    return {
        **dict.fromkeys(("started_at", "ended_at", "duration", "progress", "url")),
        **dict.fromkeys(("result", "result_shown", "error"), ""),
        "index": index,
        "id": task_id,
        "type": "?",
        "state": state,
        "failed": False,
        "can_retry": False,
    }


def _step(
    dash: Dash, index: int, task_id: str, info: TaskInfo | None, failed: str, missing: str
) -> dict[str, Any]:
    if info is None:
        return _missing(index, task_id, missing)
    result = result_text(info.result)
    return {
        "index": index,
        "id": task_id,
        "type": info.type,
        "state": info.state,
        "started_at": info.started_at,
        "ended_at": info.completed_at or info.failed_at,
        "duration": step_duration(info),
        "result": result,
        "result_shown": shorten(result, RESULT_SHOWN),
        "error": info.error,
        "progress": info.progress,
        "failed": task_id == failed,
        "can_retry": task_id == failed and info.state == "archived",
        "url": dash.task_url(info.queue, task_id),
    }


def workflow_info(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    """One workflow: its record, its steps in flow order, its flow's tree (null when the
    record has none: the steps then follow one another in the list) and its on_failure
    step."""
    d = workflow_detail(dash.app.broker, queue_names(dash), args["workflow_id"])
    w = d.view
    steps = [
        _step(dash, i, task_id, info, w.failed_step, "gone")
        for i, (task_id, info) in enumerate(zip(d.ids, d.tasks, strict=True))
    ]
    failure = None
    if w.on_failure_id:
        failure = _step(dash, -1, w.on_failure_id, d.on_failure, "", failure_unused(w.state))
        failure["type"] = failure["type"] if d.on_failure else d.on_failure_type or "?"
    return {
        "workflow": _row(dash, w, time.time()),
        "steps": steps,
        "tree": d.tree.as_dict() if d.tree else None,
        "on_failure": failure,
        "can_cancel": w.state == "running",
    }


def cancel(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    """Cancel a running workflow (as ``workflows cancel``)."""
    queue, cancelled = cancel_workflow(dash.app.broker, queue_names(dash), args["workflow_id"])
    return {"id": args["workflow_id"], "queue": queue, "cancelled": cancelled}


ROW = {
    "id": str,
    "queue": str,
    "state": str,
    "total": int,
    "done": int,
    "created": float,
    "ended": float | None,
    "duration": float | None,
    "running_for": float | None,
    "error": str,
    "failed_step": str,
    "url": str,
}
LIST = {
    "workflows": Many(ROW),
    "state": str,
    "q": str,
    "states": list[str],
    "total": int,
    "scanned": int,
    "complete": bool,
    "offset": int,
    "limit": int,
    "has_prev": bool,
    "has_next": bool,
}
STEP = {
    "index": int,
    "id": str,
    "type": str,
    "state": str,
    "started_at": float | None,
    "ended_at": float | None,
    "duration": float | None,
    "result": str,
    "result_shown": str,
    "error": str,
    "progress": Maybe(TaskProgress),
    "failed": bool,
    "can_retry": bool,
    "url": str | None,
}
DETAIL = {
    "workflow": ROW,
    "steps": Many(STEP),
    "tree": Maybe(dict[str, Any]),
    "on_failure": Maybe(STEP),
    "can_cancel": bool,
}


def endpoints() -> list[Endpoint]:
    """The workflows' JSON API."""
    return [
        Endpoint(
            "GET",
            "/workflows",
            workflow_list,
            "The workflows kept (a day after they end), newest first: state, steps done "
            "of total, started, duration; by state and by id or id prefix",
            LIST_PARAMS,
            tag="workflows",
            response=LIST,
        ),
        Endpoint(
            "GET",
            "/workflows/{workflow_id}",
            workflow_info,
            "One workflow: its steps in flow order with state, timing, result and "
            "progress, the flow's tree (chain and group items; step indexes) and its "
            "on_failure step",
            [WORKFLOW_ID],
            tag="workflows",
            response=DETAIL,
        ),
        Endpoint(
            "POST",
            "/workflows/{workflow_id}/cancel",
            cancel,
            "Cancel a running workflow: its steps not started are archived",
            [WORKFLOW_ID],
            tag="workflows",
            name="cancel_workflow",
            response={"id": str, "queue": str, "cancelled": bool},
        ),
    ]


def _cancel_form(dash: Dash, args: dict[str, Any], form: dict[str, Any]) -> tuple[str, str]:
    result = cancel(dash, args)
    if result["cancelled"]:
        text = f"workflow {result['id']}: cancelled (its steps not started are archived)"
    else:
        text = f"workflow {result['id']}: had already ended; nothing done"
    return workflow_url(dash, result["id"]), text


def pages(dash: Dash) -> list[Route]:
    """The workflows list, one workflow's page and its Cancel."""
    return [
        page_route(
            dash, "/workflows", "workflows.html", workflow_list, LIST_PARAMS, name="workflows"
        ),
        page_route(
            dash,
            "/workflows/{workflow_id}",
            "workflow.html",
            workflow_info,
            [WORKFLOW_ID],
            name="workflow",
        ),
        action_route(dash, "/workflows/{workflow_id}/cancel", _cancel_form, name="workflow_cancel"),
    ]

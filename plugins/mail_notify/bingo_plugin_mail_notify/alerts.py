"""Mail ``alertTo`` when a task is archived after its last retry, at most once per task
type per ``alertInterval``, across every worker process and daemon.

The lifecycle hook runs inside the worker that archived the task, where only the failed
task's own context is at hand (its plugin's settings, not these), so it does the least it
can: it enqueues ``task:mail-alert`` ``{type, queue}`` (with a short ``unique`` so that a
burst of failures queues one alert). That task runs as this plugin's, with these settings:

1. no ``alertTo``: done, nothing sent;
2. it takes the type's alert window: it enqueues ``task:mail-alert-window`` ``{type}``
   with ``unique=alertInterval`` and ``process_in=alertInterval``. The unique lock, held
   in Redis while that task waits, is the throttle; a refusal means another alert for the
   type went out less than ``alertInterval`` ago, and nothing is sent. The window's task
   id is derived from the alert's own id, so a retried alert (the SMTP server was down)
   finds its own window and still sends;
3. it mails the latest archived tasks of that type and queue, with their errors.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

import bingo_core as bingo

from .models import MailPayload, MailSettings
from .smtp import send_mail

ALERT_TYPE = "task:mail-alert"
WINDOW_TYPE = "task:mail-alert-window"
#: A burst of archived tasks of one type queues a single alert task for this long.
BURST_SECONDS = 60.0
#: How many archived tasks, newest first, an alert lists.
LISTED = 10
#: How far back in a queue's archive an alert looks for tasks of its type.
SCANNED = 500


class AlertPayload(BaseModel):
    """Payload of ``task:mail-alert``: the task type that had a task archived, and where."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=200)
    queue: str = Field(default="default", min_length=1, max_length=200)


class WindowPayload(BaseModel):
    """Payload of ``task:mail-alert-window``: the task type whose alerts it holds back."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=200)


def on_task_archived(ctx: bingo.TaskContext) -> None:
    """Queue an alert for ``ctx``'s task type (the hook's whole job; one Redis call)."""
    if ctx.type in (ALERT_TYPE, WINDOW_TYPE):
        return  # an alert that could not be sent does not alert about itself
    # UniqueTaskError: an alert for this type and queue is already waiting to run.
    with contextlib.suppress(bingo.UniqueTaskError):
        ctx.enqueue(ALERT_TYPE, {"type": ctx.type, "queue": ctx.queue}, unique=BURST_SECONDS)


def _when(epoch: float | None, ctx: bingo.TaskContext) -> str:
    if epoch is None:
        return "?"
    return datetime.fromtimestamp(epoch, ctx.timezone).strftime("%Y-%m-%d %H:%M:%S %Z")


def latest_archived(inspector: Any, queue: str, task_type: str) -> list[Any]:
    """The newest archived tasks of ``task_type`` in ``queue`` (at most ``LISTED``)."""
    found = inspector.stats([queue])
    count = found[0].archived if found else 0
    tasks = inspector.tasks(queue, "archived", offset=max(0, count - SCANNED), limit=SCANNED)
    mine = [t for t in tasks if t.type == task_type]
    mine.sort(key=lambda t: t.failed_at or 0.0, reverse=True)
    return mine[:LISTED]


def _interval(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def alert_mail(
    ctx: bingo.TaskContext, settings: MailSettings, payload: AlertPayload, tasks: list[Any]
) -> MailPayload:
    """The alert for ``tasks``, archived tasks of ``payload.type``."""
    lines = [
        f"Tasks of type {payload.type} in queue {payload.queue} were archived after their "
        "last retry: they will not run again unless retried by hand.",
        "",
    ]
    if not tasks:
        lines.append("(They are no longer in the archive.)")
    for task in tasks:
        lines.append(
            f"- {task.id}  archived {_when(task.failed_at, ctx)}  "
            f"retried {task.retried}/{task.max_retry}"
        )
        lines.append(f"  {task.error or '(no error recorded)'}")
    lines += [
        "",
        f"Further alerts for {payload.type} are held back for "
        f"{_interval(settings.alert_interval)} (plugins.mail_notify.alertInterval).",
        f"See them all: bingo-scheduler tasks list --queue {payload.queue} --state archived",
        "Retry one:    bingo-scheduler tasks retry TASK_ID",
    ]
    return MailPayload(
        to=settings.alert_to,
        subject=f"[bingo] {payload.type}: task(s) archived in queue {payload.queue}",
        body="\n".join(lines) + "\n",
    )


def handle_mail_alert(ctx: bingo.TaskContext, payload: AlertPayload) -> dict[str, Any]:
    """Mail ``alertTo`` about archived tasks of a type, unless an alert for that type went
    out less than ``alertInterval`` ago."""
    settings: MailSettings = ctx.settings or MailSettings()
    if not settings.alert_to:
        return {"sent": False, "reason": "plugins.mail_notify.alertTo is empty"}
    try:
        ctx.enqueue(
            WINDOW_TYPE,
            {"type": payload.type},
            unique=settings.alert_interval,
            process_in=settings.alert_interval,
            task_id=f"{ctx.task_id}-window",
        )
    except bingo.DuplicateTaskError:
        pass  # this alert took the window on an earlier attempt
    except bingo.UniqueTaskError:
        ctx.logger.info("alert for %s held back (alertInterval)", payload.type)
        return {"sent": False, "reason": f"an alert for {payload.type} went out recently"}
    tasks = latest_archived(ctx.inspector, payload.queue, payload.type)
    message_id = send_mail(settings, alert_mail(ctx, settings, payload, tasks))
    ctx.logger.info("alert for %s sent to %s", payload.type, ", ".join(settings.alert_to))
    return {"sent": True, "message_id": message_id, "tasks": [t.id for t in tasks]}


def handle_alert_window(ctx: bingo.TaskContext, payload: WindowPayload) -> dict[str, Any]:
    """Nothing to do: while this task waits, its unique lock holds the type's alerts back."""
    return {"window_closed": payload.type}

"""``bingo-scheduler tasks list|show|retry|delete|archive|cancel|wait``.

A task key of the wrong type in Redis is listed and shown as malformed (naming the key);
it can be deleted, or archived (its value kept under ``P:{q}:malformed:<id>``), not run.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ..errors import UsageError, WaitTimeout
from .common import print_json, print_table

if TYPE_CHECKING:
    from ..app import App
    from ..inspector import Inspector


def register(sub: Any) -> None:
    p = sub.add_parser("tasks", help="list, show, retry, delete, archive or cancel tasks")
    actions = p.add_subparsers(title="actions", metavar="ACTION", required=True)
    ls = actions.add_parser("list", help="tasks of a queue in a state")
    ls.add_argument("--queue", default="default", metavar="Q")
    ls.add_argument(
        "--state",
        default="pending",
        choices=["pending", "active", "scheduled", "retry", "archived", "completed", "waiting"],
    )
    ls.add_argument("--limit", type=_bounded(1, 10000), default=50, help="at most 10000")
    ls.add_argument("--offset", type=_bounded(0, 2**62), default=0)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=run_list)
    show = actions.add_parser("show", help="one task with its payload and last error")
    show.add_argument("id")
    show.add_argument("--queue", metavar="Q", help="its queue (default: search every queue)")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=run_show)
    for name, text in (
        ("retry", "run a scheduled, retry or archived task now"),
        ("delete", "delete a task"),
        ("archive", "archive a task"),
    ):
        act = actions.add_parser(name, help=text)
        act.add_argument("ids", nargs="*", metavar="ID")
        act.add_argument("--queue", metavar="Q")
        act.add_argument(
            "--all",
            metavar="STATE",
            dest="all_state",
            help="every task of --queue in this state (bulk)",
        )
        act.add_argument("--json", action="store_true")
        act.set_defaults(func=run_action, action=name)
    _register_cancel(actions)
    _register_wait(actions)


def _register_wait(actions: Any) -> None:
    wait = actions.add_parser(
        "wait",
        help="block until a task ends and print its result (exit 1: archived, 3: timeout)",
    )
    wait.add_argument("id")
    wait.add_argument("--queue", metavar="Q", help="its queue (default: search every queue)")
    wait.add_argument(
        "--timeout", type=_seconds, metavar="S", help="give up after S seconds (exit 3)"
    )
    wait.add_argument("--json", action="store_true", help="print id, queue and result")
    wait.set_defaults(func=run_wait, lasting=True)  # may block long (see .main)


def _seconds(text: str) -> float:
    """An argparse type: a number of seconds, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is out of range (0 or more seconds)")
    return value


#: ``tasks wait``'s exit code when the timeout passes first.
EXIT_TIMEOUT = 3


def run_wait(app: App) -> int:
    a = app.args
    client = app.client
    try:
        result = client.wait(a.id, a.timeout, queue=a.queue)
    except WaitTimeout as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_TIMEOUT
    if a.json:
        print_json({"id": a.id, "state": "completed", "result": result})
    else:
        print_json(result)
    return 0


def _register_cancel(actions: Any) -> None:
    cancel = actions.add_parser(
        "cancel",
        help="cancel a task: archived at once when it waits, stopped by its worker when active",
    )
    cancel.add_argument("id")
    cancel.add_argument("--queue", metavar="Q", help="its queue (default: search every queue)")
    cancel.add_argument("--json", action="store_true")
    cancel.set_defaults(func=run_cancel)


def _inspector(app: App) -> Inspector:
    inspector = app.inspector
    inspector.ping()
    return inspector


def _bounded(low: int, high: int) -> Any:
    """An argparse type: a whole number from ``low`` to ``high``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is out of range ({low} to {high})")
        return value

    return parse


def _when(ts: float | None, zone: ZoneInfo) -> str:
    """An epoch time in the server's zone, the zone named: ``2026-01-31 02:00:00 UTC``."""
    if not ts:
        return ""
    try:
        shown = datetime.fromtimestamp(ts, zone).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, ValueError, OSError):  # a time no calendar holds (bad data)
        return f"{ts!r} (out of range)"
    return f"{shown} {zone.key}"


#: The time a list shows per state, and its column's title.
LIST_TIME = {
    "scheduled": ("process_at", "due"),
    "retry": ("process_at", "next attempt"),
    "active": ("started_at", "started"),
    "archived": ("failed_at", "archived"),
    "completed": ("completed_at", "completed"),
}


def run_list(app: App) -> int:
    a = app.args
    tasks = _inspector(app).tasks(a.queue, a.state, offset=a.offset, limit=a.limit)
    if a.json:
        print_json([t.to_dict() for t in tasks])
        return 0
    zone = ZoneInfo(app.settings.server.timezone)
    field, title = LIST_TIME.get(a.state, ("enqueued_at", "enqueued"))
    print_table(
        [
            [
                t.id,
                t.type,
                t.state,
                f"{t.retried}/{t.max_retry}",
                _when(getattr(t, field), zone),
                t.error[:60],
            ]
            for t in tasks
        ],
        ["id", "type", "state", "retried", title, "error"],
    )
    return 0


def run_show(app: App) -> int:
    info = _inspector(app).find(app.args.id, app.args.queue)
    if app.args.json:
        print_json(info.to_dict())
        return 0
    zone = ZoneInfo(app.settings.server.timezone)
    for key, value in info.to_dict().items():
        if key.endswith("_at") and isinstance(value, float):
            value = _when(value, zone)
        if key == "process_at" and info.state == "retry":
            key = "next attempt"
        if key == "progress":
            value = info.progress.text() if info.progress else ""
        if key == "depends_on":
            value = ", ".join(info.depends_on)
            if info.state == "waiting":
                value += f" ({info.deps_open} not completed yet)"
        if (
            key == "deps_open"
            or (key in ("batch_items", "held_by") and not value)
            or (key == "workflow" and value is None)
        ):
            continue
        print(f"{key:13} {value}")
    return 0


def run_action(app: App) -> int:
    # lazy: the records load with the commands that use them, not with --help
    from ..records import STATES

    a = app.args
    # Bad input is refused before Redis is asked (exit 2 even when it is down).
    if a.all_state:
        if a.all_state not in STATES:
            raise UsageError(
                f"tasks {a.action} --all {a.all_state!r}: unknown state (expected one of "
                f"{', '.join(STATES)})"
            )
        if not a.queue:
            raise UsageError(f"tasks {a.action} --all needs --queue")
        if a.ids:
            raise UsageError(f"tasks {a.action}: give task ids or --all STATE, not both")
    elif not a.ids:
        raise UsageError(f"tasks {a.action}: give task ids or --queue Q --all STATE")
    inspector = _inspector(app)
    if a.all_state:
        n = inspector.act_all(a.action, a.queue, a.all_state)
        if a.json:
            print_json({"action": a.action, "count": n})
        else:
            print(f"{a.action}: {n} task(s)")
        return 0
    done = [inspector.act(a.action, task_id, a.queue) for task_id in a.ids]
    if a.json:
        print_json([{"id": t.id, "queue": t.queue, "action": a.action} for t in done])
    else:
        for t in done:
            print(f"{a.action}: {t.id} ({t.queue})")
    return 0


#: Who ``tasks cancel`` says asked, in the cancelled task's error.
CANCEL_BY = "the CLI (tasks cancel)"


def run_cancel(app: App) -> int:
    a = app.args
    info = _inspector(app).cancel(a.id, a.queue, by=CANCEL_BY)
    if a.json:
        print_json({"id": info.id, "queue": info.queue, "state": info.state})
    elif info.state == "active":
        print(f"cancel: {info.id} ({info.queue}) asked; its worker stops it and archives it")
    else:
        print(f"cancel: {info.id} ({info.queue}) {info.state}: {info.error}")
    return 0

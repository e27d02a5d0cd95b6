"""``bingo-scheduler tasks list|show|retry|delete|archive``.

A task key of the wrong type in Redis is listed and shown as malformed (naming the key);
it can be deleted, or archived (its value kept under ``P:{q}:malformed:<id>``), not run.
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any

from .common import App, print_json, print_table

if TYPE_CHECKING:
    from ..inspector import Inspector


def register(sub: Any) -> None:
    p = sub.add_parser("tasks", help="list, show, retry, delete or archive tasks")
    actions = p.add_subparsers(title="actions", metavar="ACTION", required=True)
    ls = actions.add_parser("list", help="tasks of a queue in a state")
    ls.add_argument("--queue", default="default", metavar="Q")
    ls.add_argument(
        "--state",
        default="pending",
        choices=["pending", "active", "scheduled", "retry", "archived", "completed"],
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


def _when(ts: float | None) -> str:
    if not ts:
        return ""
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
    except (OverflowError, ValueError, OSError):  # a time no calendar holds (bad data)
        return f"{ts!r} (out of range)"


def run_list(app: App) -> int:
    a = app.args
    tasks = _inspector(app).tasks(a.queue, a.state, offset=a.offset, limit=a.limit)
    if a.json:
        print_json([t.to_dict() for t in tasks])
        return 0
    print_table(
        [
            [
                t.id,
                t.type,
                t.state,
                f"{t.retried}/{t.max_retry}",
                _when(t.enqueued_at),
                t.error[:60],
            ]
            for t in tasks
        ],
        ["id", "type", "state", "retried", "enqueued", "error"],
    )
    return 0


def run_show(app: App) -> int:
    info = _inspector(app).find(app.args.id, app.args.queue)
    if app.args.json:
        print_json(info.to_dict())
        return 0
    for key, value in info.to_dict().items():
        if key.endswith("_at") and isinstance(value, float):
            value = _when(value)
        print(f"{key:13} {value}")
    return 0


def run_action(app: App) -> int:
    from ..broker import STATES
    from ..errors import UsageError

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

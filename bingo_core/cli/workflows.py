"""``bingo-scheduler workflows list|show|cancel``: the workflows ``enqueue_workflow``
wrote (their records are kept a day after they end)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ..durations import shown
from .common import print_json, print_table

if TYPE_CHECKING:
    from ..app import App


def register(sub: Any) -> None:
    p = sub.add_parser("workflows", help="list, show or cancel workflows")
    actions = p.add_subparsers(title="actions", metavar="ACTION", required=True)
    ls = actions.add_parser("list", help="the newest workflows: state, steps done/total")
    ls.add_argument("--queue", metavar="Q", help="only this queue (default: every queue)")
    ls.add_argument("--limit", type=int, default=50, help="how many (default 50)")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=run_list)
    for name, text in (
        ("show", "one workflow and each step's state"),
        ("cancel", "cancel a running workflow: its steps not started are archived"),
    ):
        act = actions.add_parser(name, help=text)
        act.add_argument("id", metavar="ID")
        act.add_argument("--queue", metavar="Q", help="its queue (default: search every queue)")
        act.add_argument("--json", action="store_true", help="machine-readable output")
        act.set_defaults(func=run_show if name == "show" else run_cancel)


def _queues(app: App) -> list[str]:
    app.inspector.ping()
    return [app.args.queue] if app.args.queue else app.broker.reader.queues()


def _when(app: App, epoch: float | None) -> str:
    if not epoch:
        return ""
    zone = ZoneInfo(app.settings.server.timezone)
    return datetime.fromtimestamp(epoch, zone).strftime("%Y-%m-%d %H:%M:%S")


def run_list(app: App) -> int:
    # lazy: keeps redis out of the CLI's start-up
    from ..workflows_view import list_workflows

    rows = list_workflows(app.broker, _queues(app), max(1, app.args.limit))
    if app.args.json:
        print_json([w.as_dict() for w in rows])
        return 0
    if not rows:
        print("no workflows kept")
        return 0
    print_table(
        [
            [w.id, w.queue, w.state, f"{w.done}/{w.total}", _when(app, w.created), w.error]
            for w in rows
        ],
        ["id", "queue", "state", "steps", "created", "error"],
    )
    return 0


def run_show(app: App) -> int:
    # lazy: keeps redis out of the CLI's start-up
    from ..workflows_view import workflow_detail
    from .workflow_tree import tree_rows

    d = workflow_detail(app.broker, _queues(app), app.args.id)
    w = d.view
    if app.args.json:
        print_json({**w.as_dict(), "tree": d.tree.as_dict() if d.tree else None})
        return 0
    print(f"workflow  {w.id}")
    print(f"queue     {w.queue}")
    print(f"state     {w.state}")
    print(f"steps     {w.done}/{w.total} done")
    print(f"created   {_when(app, w.created)}")
    if w.ended:
        print(f"ended     {_when(app, w.ended)}")
        print(f"took      {shown(w.duration)}")
    if w.error:
        print(f"error     {w.error}")
    print()
    print_table(tree_rows(d), ["step", "queue", "type", "state", "took", "task", "result"])
    return 0


def run_cancel(app: App) -> int:
    # lazy: keeps redis out of the CLI's start-up
    from ..workflows_view import cancel_workflow

    queue, cancelled = cancel_workflow(app.broker, _queues(app), app.args.id)
    if app.args.json:
        print_json({"id": app.args.id, "queue": queue, "cancelled": cancelled})
    elif cancelled:
        print(
            f"cancelled workflow {app.args.id} (queue {queue}): its steps not started are archived"
        )
    else:
        print(f"workflow {app.args.id} (queue {queue}) had already ended; nothing done")
    return 0

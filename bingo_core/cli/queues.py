"""``bingo-scheduler queues list|pause|resume|delete``: queue control, through the inspector."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .common import print_json, print_table, shown_name

if TYPE_CHECKING:
    from ..app import App


def register(sub: Any) -> None:
    p = sub.add_parser("queues", help="list, pause, resume or delete queues")
    actions = p.add_subparsers(title="actions", metavar="ACTION", required=True)
    ls = actions.add_parser("list", help="every queue with its size, paused or not, workers")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=run_list)
    for name, text in (
        ("pause", "stop workers fetching from a queue (tasks still enqueue)"),
        ("resume", "let workers fetch from a paused queue again"),
        ("delete", "delete a queue and its tasks (refused while it holds tasks)"),
    ):
        act = actions.add_parser(name, help=text)
        act.add_argument("queue", metavar="QUEUE")
        act.add_argument("--json", action="store_true", help="machine-readable output")
        if name == "delete":
            act.add_argument("--force", action="store_true", help="delete its tasks too")
        act.set_defaults(func=run_action, action=name)


def run_list(app: App) -> int:
    inspector = app.inspector
    inspector.ping()
    rows = inspector.stats()
    if app.args.json:
        print_json(
            [
                {
                    "queue": r.queue,
                    "size": r.size,
                    "pending": r.pending,
                    "paused": r.paused,
                    "consumers": r.consumers,
                    "layout": r.layout,
                }
                for r in rows
            ]
        )
        return 0
    if not rows:
        print("no queues yet")
        return 0
    print_table(
        [
            [shown_name(r), r.size, r.pending, "paused" if r.paused else "", r.consumers]
            for r in rows
        ],
        ["queue", "size", "pending", "paused", "workers"],
    )
    return 0


def run_action(app: App) -> int:
    a = app.args
    inspector = app.inspector
    inspector.ping()
    out: dict[str, Any] = {"queue": a.queue, "action": a.action}
    if a.action == "pause":
        inspector.pause(a.queue)
        text = f"paused {a.queue}: workers stop fetching from it (tasks still enqueue)"
    elif a.action == "resume":
        inspector.resume(a.queue)
        text = f"resumed {a.queue}"
    else:
        out["deleted_tasks"] = n = inspector.delete_queue(a.queue, force=a.force)
        text = f"deleted queue {a.queue} ({n} task(s))"
    if a.json:
        print_json(out)
    else:
        print(text)
    return 0

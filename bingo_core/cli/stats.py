"""``bingo-scheduler stats [--json]``: per-queue counts per state, the tasks held back
by limits per queue, task type and ``limit_key`` value, and the batch items waiting per
queue, task type and batch key value."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from .common import print_json, print_table, shown_name

if TYPE_CHECKING:
    from ..app import App


def register(sub: Any) -> None:
    p = sub.add_parser("stats", help="per-queue task counts per state")
    p.add_argument("--queue", action="append", metavar="Q", help="only this queue (repeatable)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(app: App) -> int:
    inspector = app.inspector
    inspector.ping()
    rows = inspector.stats(app.args.queue)
    limited = [r.queue for r in rows if r.throttled]
    held = inspector.throttled(limited) if limited else []
    batched = inspector.batches([r.queue for r in rows]) if rows else []
    if app.args.json:
        print_json({"queues": rows, "throttled": held, "batches": batched})
        return 0
    if not rows:
        print("no queues yet")
        return 0
    headers = [
        "queue",
        "pending",
        "held",
        "active",
        "scheduled",
        "retry",
        "archived",
        "completed",
        "waiting",
        "processed",
        "failed",
        "latency",
        "paused",
        "workers",
    ]
    print_table(
        [
            [
                shown_name(r),
                r.pending,
                r.throttled,
                r.active,
                r.scheduled,
                r.retry,
                r.archived,
                r.completed,
                r.waiting,
                r.processed,
                r.failed,
                f"{r.latency:.1f}s",
                "yes" if r.paused else "",
                r.consumers,
            ]
            for r in rows
        ],
        headers,
    )
    if held:
        print("\nheld back by limits:")
        print_table(
            [
                [t.queue, t.type, "" if t.key is None else t.key, t.held, f"{t.waited:.1f}s"]
                for t in held
            ],
            ["queue", "type", "key", "held", "first waited"],
        )
    if batched:
        print("\nbatch items waiting:")
        print_table(
            [
                [b.queue, b.type, b.key, b.items, f"{b.waited:.1f}s", f"{b.due_in:.1f}s"]
                for b in batched
            ],
            ["queue", "type", "key", "items", "oldest waited", "due in"],
        )
    # a queue of asynq.queues may be served by Go servers, which Bingo does not see
    idle = [r.queue for r in rows if not r.consumers and r.size and r.layout == "bingo"]
    if idle and any(r.consumers for r in rows):
        print(
            f"\nwarning: no live worker consumes {', '.join(idle)}: their tasks wait until a "
            "worker lists them in worker.queues",
            file=sys.stderr,
        )
    return 0

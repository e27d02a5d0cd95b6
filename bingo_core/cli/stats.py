"""``bingo-scheduler stats [--json]``: per-queue counts per state."""

from __future__ import annotations

import sys
from typing import Any

from .common import App, print_json, print_table


def register(sub: Any) -> None:
    p = sub.add_parser("stats", help="per-queue task counts per state")
    p.add_argument("--queue", action="append", metavar="Q", help="only this queue (repeatable)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(app: App) -> int:
    inspector = app.inspector
    inspector.ping()
    rows = inspector.stats(app.args.queue)
    if app.args.json:
        print_json({"queues": rows})
        return 0
    if not rows:
        print("no queues yet")
        return 0
    headers = [
        "queue",
        "pending",
        "active",
        "scheduled",
        "retry",
        "archived",
        "completed",
        "processed",
        "failed",
        "latency",
        "paused",
        "workers",
    ]
    print_table(
        [
            [
                r["queue"],
                r["pending"],
                r["active"],
                r["scheduled"],
                r["retry"],
                r["archived"],
                r["completed"],
                r["processed"],
                r["failed"],
                f"{r['latency']:.1f}s",
                "yes" if r["paused"] else "",
                r["consumers"],
            ]
            for r in rows
        ],
        headers,
    )
    idle = [r["queue"] for r in rows if not r["consumers"] and r["size"]]
    if idle and any(r["consumers"] for r in rows):
        print(
            f"\nwarning: no live worker consumes {', '.join(idle)}: their tasks wait until a "
            "worker lists them in worker.queues",
            file=sys.stderr,
        )
    return 0

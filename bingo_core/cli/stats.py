"""``bingo-scheduler stats [--json]``: per-queue counts per state."""

from __future__ import annotations

from typing import Any

from .common import App, print_json, print_table


def register(sub: Any) -> None:
    p = sub.add_parser("stats", help="per-queue task counts per state")
    p.add_argument("--queue", action="append", metavar="Q", help="only this queue (repeatable)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(app: App) -> int:
    from ..broker import Broker
    from ..inspector import Inspector

    broker = Broker(app.settings.redis)
    try:
        broker.ping()
        rows = Inspector(broker).stats(app.args.queue)
    finally:
        broker.close()
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
            ]
            for r in rows
        ],
        headers,
    )
    return 0

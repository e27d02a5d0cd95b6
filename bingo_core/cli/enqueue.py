"""``bingo-scheduler enqueue TYPE --payload JSON [options]``: prints the task id."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..errors import PayloadError, UnknownTaskType
from .common import App, print_json


def register(sub: Any) -> None:
    p = sub.add_parser("enqueue", help="enqueue one task (validated before anything is written)")
    p.add_argument("type", metavar="TYPE", help="task type, e.g. task:daily-report")
    p.add_argument("--payload", default="{}", metavar="JSON", help="payload as a JSON object")
    p.add_argument("--queue", metavar="Q")
    p.add_argument("--max-retry", type=int, metavar="N")
    p.add_argument("--timeout", metavar="S", help="seconds or a duration like 30s, 0 = none")
    p.add_argument("--deadline", metavar="ISO", help="absolute deadline, ISO-8601")
    p.add_argument("--process-in", metavar="S", help="run after this delay (seconds or 5m)")
    p.add_argument("--process-at", metavar="ISO", help="run at this ISO-8601 time")
    p.add_argument("--unique", metavar="S", help="refuse an identical task for this long")
    p.add_argument("--task-id", metavar="ID", help="custom task id (a duplicate is refused)")
    p.add_argument("--retention", metavar="S", help="keep the completed task this long")
    p.add_argument("--json", action="store_true", help="print the task info as JSON")
    p.set_defaults(func=run)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in (
        "queue",
        "max_retry",
        "timeout",
        "deadline",
        "process_in",
        "process_at",
        "unique",
        "task_id",
        "retention",
    ):
        value = getattr(args, name)
        if value is not None:
            out[name] = value
    return out


def run(app: App) -> int:
    args = app.args
    try:
        payload = json.loads(args.payload)
    except ValueError as exc:
        raise PayloadError(f"--payload is not valid JSON: {exc}") from None
    if args.type not in app.registry.tasks and app.manager.failures:
        broken = ", ".join(f.plugin for f in app.manager.failures)
        raise UnknownTaskType(
            args.type, f"broken plugin(s): {broken}; see 'bingo-scheduler plugins'"
        )
    client = app.client
    # Validate first (type, payload, options) so nothing reaches Redis when it is bad.
    client.builder.build(args.type, payload, _options(args))
    info = client.enqueue(args.type, payload, **_options(args))
    if args.json:
        print_json(info.to_dict())
    else:
        print(info.id)
    for warning in client.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0

"""``bingo-scheduler enqueue TYPE --payload JSON [options]``: prints the task id."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from ..errors import PayloadError, UnknownTaskType
from ..options import CLI_OPTIONS
from .common import print_json

if TYPE_CHECKING:
    from ..app import App


def register(sub: Any) -> None:
    p = sub.add_parser("enqueue", help="enqueue one task (validated before anything is written)")
    p.add_argument("type", metavar="TYPE", help="task type, e.g. task:daily-report")
    p.add_argument("--payload", default="{}", metavar="JSON", help="payload as a JSON object")
    options = p.add_argument_group("task options (default: the task type's)")
    for option in CLI_OPTIONS:
        options.add_argument(
            option.flag, dest=f"o_{option.name}", metavar=option.metavar, help=option.help
        )
    p.add_argument("--json", action="store_true", help="print the task info as JSON")
    p.set_defaults(func=run)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """The options given as flags (the text of each, as the option reads text)."""
    out: dict[str, Any] = {}
    for option in CLI_OPTIONS:
        text = getattr(args, f"o_{option.name}")
        if text is not None:
            out[option.name] = option.text_value(text)
    return out


def run(app: App) -> int:
    args = app.args
    try:
        payload = json.loads(args.payload)
    except ValueError as exc:
        raise PayloadError(f"--payload is not valid JSON: {exc}") from None
    app.expect_task_type(args.type)
    known = app.registry.tasks.keys() | app.registry.conflicts.keys()
    if args.type not in known and app.manager.failures:
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

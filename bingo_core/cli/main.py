"""``bingo-scheduler``: run the daemon, or one subcommand.

Each subcommand lives in its own module with ``register(subparsers)``; the parser it adds
sets ``func(app) -> int``. Bad input exits 2 with one line, a missing service exits 1.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from ..app import App
from ..errors import BingoError, ServiceUnavailable, UsageError
from . import check, cron, dashboard, db, enqueue, plugin_new, plugins, queues, stats, tasks

#: Subcommand modules, in help order.
COMMANDS = [enqueue, plugins, stats, tasks, queues, cron, db, check, dashboard, plugin_new]
DEFAULT_CONFIG = "config/bingo-scheduler.yaml"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (the daemon's options plus every subcommand)."""
    parser = _Parser(
        prog="bingo-scheduler",
        description="Distributed task scheduler: cron schedules, Redis queues, plugin tasks.",
    )
    parser.add_argument(
        "-c",
        "--config",
        default=None,
        metavar="FILE",
        help=f"config file (default: $BINGO_CONFIG, else {DEFAULT_CONFIG} if present)",
    )
    parser.add_argument("--no-scheduler", action="store_true", help="do not run the scheduler")
    parser.add_argument("--no-worker", action="store_true", help="do not run workers")
    parser.add_argument("--no-dashboard", action="store_true", help="do not serve the dashboard")
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one config value (highest precedence); repeatable",
    )
    parser.set_defaults(func=None)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    for module in COMMANDS:
        module.register(sub)
    return parser


def _overrides(sets: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise UsageError(f"--set {item!r}: expected SECTION.KEY=VALUE")
        out[key.strip()] = value
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.overrides = _overrides(args.sets)
        app = App.from_args(args)
        if args.func is not None:
            # Subcommands report problems themselves, in one line; keep log records quiet.
            quiet = logging.getLogger("bingo")
            quiet.addHandler(logging.NullHandler())
            quiet.propagate = False
        if args.func is None:
            from ..daemon import run_daemon

            return run_daemon(app)
        code: int = args.func(app)
        return code
    except ServiceUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BingoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        logging.shutdown()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""``bingo-scheduler cron list``: every schedule entry the leader fires, from Redis.

Each entry with its source (plugin, config, ``sys_crontab`` row id), spec, zone, type,
next and last fire, last task id and missed ticks; then the current leader and the
``sys_crontab`` rows the sync skipped, with their errors.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any, TypeAlias
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .common import print_json, print_table

if TYPE_CHECKING:
    from ..app import App

_SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
HEADERS = [
    "SOURCE",
    "NAME",
    "SPEC",
    "ZONE",
    "TYPE",
    "NEXT FIRE",
    "LAST FIRE",
    "LAST TASK",
    "MISSED",
]


def add_list_parser(cron_subparsers: _SubParsers) -> None:
    """Add ``cron list`` to the ``cron`` command group."""
    parser = cron_subparsers.add_parser(
        "list",
        help="every schedule entry with its next and last fire (from Redis)",
        description="List every schedule entry the scheduler leader publishes in Redis: "
        "plugins', the config file's and sys_crontab's, with next and last fire, last task "
        "id and missed ticks; then the sys_crontab rows the sync skipped.",
    )
    parser.add_argument(
        "--history",
        type=int,
        default=0,
        metavar="N",
        help="with --json: include the last N enqueues of each entry",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=_list)


def _zone(name: Any) -> tzinfo:
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        return UTC


def _when(epoch: Any, zone: tzinfo) -> str:
    if not isinstance(epoch, int | float) or isinstance(epoch, bool):
        return "-"
    try:
        return datetime.fromtimestamp(epoch, zone).isoformat(sep=" ", timespec="seconds")
    except (OverflowError, OSError, ValueError):  # a time no calendar holds
        return f"? ({epoch!r})"


def _row_key(item: tuple[Any, Any]) -> tuple[int, str]:
    key = str(item[0])
    return (int(key), "") if key.isdigit() else (1 << 62, key)


def _list(app: App) -> int:
    args = app.args
    inspector = app.inspector
    inspector.ping()
    data = inspector.schedules(args.history if args.json else 0)
    if args.json:
        print_json(data)
        return 0
    rows = []
    for e in data.entries:
        zone = _zone(e.timezone or "")
        rows.append(
            [
                e.source or "?",
                e.name or "?",
                e.spec or "?",
                e.timezone or "UTC",
                e.type or "?",
                _when(e.next_fire, zone),
                _when(e.last_fire, zone),
                e.last_task_id or "-",
                e.missed,
            ]
        )
    if rows:
        print_table(rows, HEADERS)
    else:
        print("no schedule entries published (is a daemon running the scheduler?)")
    leader = data.leader
    if leader.id:
        print(f"\nleader: {leader.id} (token {leader.epoch})")
    else:
        print("\nleader: none (no daemon runs the scheduler on this Redis)")
    sync = data.sync
    if sync is None:
        return 0
    if not sync.healthy:
        print(f"database: {sync.db_error or 'not reachable'}")
    for line in sync.static_errors or []:
        print(f"skipped: {line}")
    for row_id, error in sorted((sync.errors or {}).items(), key=_row_key):
        print(f"skipped: sys_crontab row {row_id}: {error}")
    return 0

"""``bingo-scheduler problems [--json]``: what is wrong now, one line per problem (exit 0
whatever it finds)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from .common import print_json

if TYPE_CHECKING:
    from ..app import App


def register(sub: Any) -> None:
    p = sub.add_parser(
        "problems",
        help="what is wrong now: failing or unserved queues, dead servers, missed ticks...",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(app: App) -> int:
    # lazy: keeps the inspector's reads (and redis) out of the CLI's start-up
    from ..problems import find_problems

    inspector = app.inspector
    inspector.ping()
    found = find_problems(inspector, app.settings)
    if app.args.json:
        print_json(found)
        return 0
    if not found:
        print("no problems")
        return 0
    zone = ZoneInfo(app.settings.server.timezone)
    for p in found:
        since = ""
        if p.since is not None:
            at = datetime.fromtimestamp(p.since, zone).strftime("%Y-%m-%d %H:%M:%S %Z")
            since = f" (since {at})"
        print(f"{p.severity.upper():8}  {p.kind:14}  {p.message}{since}")
    return 0

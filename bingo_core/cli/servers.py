"""``bingo-scheduler servers [--json]``: every daemon and worker process with a heartbeat in
the last hour, live, dead (its heartbeat stopped) or stopped (it shut down), one line each:
the same records as the dashboard's Servers page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..durations import format_duration
from .common import print_json, print_table

if TYPE_CHECKING:
    from ..app import App
    from ..records import ServerInfo

#: How long a server that stopped, or whose heartbeat stopped, is still listed (seconds).
KEEP = 3600.0
_ORDER = {"live": 0, "dead": 1, "stopped": 2}


def register(sub: Any) -> None:
    """Add the ``servers`` command."""
    p = sub.add_parser(
        "servers",
        help="daemons and workers: live, dead and stopped",
        description="Every daemon and worker process with a heartbeat in the last hour: "
        "its name, host, pid, roles, queues, slots, heartbeat age and active tasks.",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def _queues(server: ServerInfo) -> str:
    queues = server.queues
    if isinstance(queues, dict):
        return ",".join(f"{q}:{w}" for q, w in queues.items()) or "-"
    return ",".join(server.queue_names) or "-"


def _slots(server: ServerInfo) -> str:
    if server.concurrency is None:
        return "-"
    busy = server.active_count if server.active_count is not None else len(server.active)
    return f"{busy}/{server.concurrency}"


def _row(server: ServerInfo) -> list[str]:
    age = server.heartbeat_age
    active = 0 if server.status != "live" else (server.active_count or len(server.active))
    return [
        server.name or "-",
        server.host or "-",
        str(server.pid) if server.pid is not None else "-",
        server.status,
        ",".join(server.roles) or "-",
        _queues(server),
        _slots(server) if server.status == "live" else "-",
        f"{format_duration(max(age, 0.0))} ago" if age is not None else "-",
        str(active),
    ]


def run(app: App) -> int:
    """List the servers."""
    inspector = app.inspector
    inspector.ping()
    servers = sorted(
        inspector.server_list(KEEP),
        key=lambda s: (_ORDER.get(s.status, 3), str(s.name), str(s.host), s.id),
    )
    if app.args.json:
        print_json({"servers": servers})
        return 0
    if not servers:
        print("no servers with a heartbeat in the last hour")
        return 0
    headers = ["name", "host", "pid", "status", "roles", "queues", "slots", "heartbeat", "active"]
    print_table([_row(s) for s in servers], headers)
    return 0

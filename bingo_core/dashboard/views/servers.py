"""Servers: every daemon and worker process with a recent heartbeat; dead ones marked."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from starlette.routing import Route

from ...records import Leader, ServerInfo
from ..web import Dash, Endpoint, Param, page_route

#: How long a server that stopped, or whose heartbeat stopped, is still shown (seconds).
KEEP = 3600.0


def server_list(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    """Servers (live first, then by name) with their status, roles, heartbeat age and
    active tasks."""
    servers = [
        replace(
            server,
            active=[replace(t, url=dash.task_url(t.queue, t.id)) for t in server.active],
        )
        for server in dash.inspector.server_list(KEEP)
    ]
    order = {"live": 0, "dead": 1, "stopped": 2}
    servers.sort(key=lambda s: (order.get(s.status, 3), s.name or "", str(s.host), s.id))
    live = [s for s in servers if s.status == "live"]
    return {
        "servers": servers,
        "live": len(live),
        "dead": sum(1 for s in servers if s.status == "dead"),
        "active": sum(s.active_count or 0 for s in live),
        "concurrency": sum(s.concurrency or 0 for s in live),
        "leader": dash.inspector.leader(),
        "keep": KEEP,
    }


#: The answer of ``GET /servers``.
SERVERS = {
    "servers": list[ServerInfo],
    "live": int,
    "dead": int,
    "active": int,
    "concurrency": int,
    "leader": Leader,
    "keep": float,
}


def endpoints() -> list[Endpoint]:
    """The servers' JSON API."""
    return [
        Endpoint(
            "GET",
            "/servers",
            server_list,
            "Daemons and workers (live, dead, stopped) with their active tasks",
            tag="servers",
            response=SERVERS,
        )
    ]


def pages(dash: Dash) -> list[Route]:
    """The servers page."""
    params: list[Param] = []
    return [page_route(dash, "/servers", "servers.html", server_list, params, name="servers")]

"""Servers: every daemon and worker process with a recent heartbeat; dead ones marked."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from ..web import Dash, Endpoint, Param, page_route

#: How long a server that stopped, or whose heartbeat stopped, is still shown (seconds).
KEEP = 3600.0


def server_list(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    """Servers with their status, roles, heartbeat age and active tasks."""
    servers = dash.inspector.server_list(KEEP)
    for server in servers:
        for task in server["active"]:
            queue, task_id = task.get("queue"), task.get("id")
            task["url"] = dash.url(f"/queues/{queue}/tasks/{task_id}")
    order = {"live": 0, "dead": 1, "stopped": 2}
    servers.sort(key=lambda s: (order.get(s["status"], 3), str(s.get("host")), str(s["id"])))
    live = [s for s in servers if s["status"] == "live"]
    return {
        "servers": servers,
        "live": len(live),
        "dead": sum(1 for s in servers if s["status"] == "dead"),
        "active": sum(int(s.get("active_count") or 0) for s in live),
        "concurrency": sum(int(s.get("concurrency") or 0) for s in live),
        "leader": dash.inspector.leader(),
        "keep": KEEP,
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
        )
    ]


def pages(dash: Dash) -> list[Route]:
    """The servers page."""
    params: list[Param] = []
    return [page_route(dash, "/servers", "servers.html", server_list, params, name="servers")]

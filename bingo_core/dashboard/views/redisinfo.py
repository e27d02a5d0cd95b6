"""Redis: version, mode (standalone, Sentinel, Cluster), memory, clients, keys."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from ...records import RedisInfo
from ..web import Dash, Endpoint, page_route


def redis_info(dash: Dash, args: dict[str, Any]) -> dict[str, Any]:
    """What Redis says about itself, and how many keys Bingo holds."""
    return {"redis": dash.inspector.redis_info()}


def endpoints() -> list[Endpoint]:
    """The Redis page's JSON API."""
    return [
        Endpoint(
            "GET",
            "/redis",
            redis_info,
            "Redis version, mode, memory, clients, keys",
            tag="redis",
            response={"redis": RedisInfo},
        )
    ]


def pages(dash: Dash) -> list[Route]:
    """The Redis page."""
    return [page_route(dash, "/redis", "redis.html", redis_info, name="redis")]

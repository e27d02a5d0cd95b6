"""Names in paths: a queue named ``eu/reports`` or a task id holding ``#``, ``?``, ``%`` or
a space is one path segment, percent-encoded (:func:`segment`), on every page and API path.

Servers decode ``%2F`` before routing, so ``/queues/eu%2Freports/tasks`` would reach the
router as ``/queues/eu/reports/tasks`` and match nothing. :class:`SegmentPaths` gives the
router the path as sent, each segment decoded and encoded again the one way
(:func:`segment`), and the routes' parameters use the ``seg`` convertor, which decodes a
matched segment: ``{queue}`` matches exactly one segment, as before, so no route becomes
ambiguous.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, unquote

from starlette.convertors import Convertor, register_url_convertor

#: What a segment keeps as it is: RFC 3986's path characters, less ``%`` (and ``/``).
SAFE = "!$&'()*+,;=:@-._~"


def segment(name: Any) -> str:
    """``name`` as one path segment: ``eu/reports`` -> ``eu%2Freports``."""
    return quote(str(name), safe=SAFE)


class SegmentConvertor(Convertor[str]):
    """One path segment, decoded (``{queue:seg}``)."""

    regex = "[^/]+"

    def convert(self, value: str) -> str:
        return unquote(value)

    def to_string(self, value: str) -> str:
        return segment(value)


register_url_convertor("seg", SegmentConvertor())

_PARAM = re.compile(r"\{(\w+)\}")


def route_path(path: str) -> str:
    """A route's path with each ``{name}`` a decoded segment (``{name:seg}``)."""
    return _PARAM.sub(r"{\1:seg}", path)


def encoded_path(scope: dict[str, Any]) -> str | None:
    """The request's path with each segment encoded by :func:`segment`, from the path as
    sent (``raw_path``); None when there is none or ``path`` does not end with it decoded
    (a server or a mount that rewrote the path: it is then left as it is). A ``path``
    decoded twice (Starlette's test client does) is recognised too; a ``root_path`` the
    server put in front of it is kept."""
    raw = scope.get("raw_path")
    if not raw:
        return None
    parts = [unquote(p) for p in raw.decode("latin-1").split("/")]
    joined = "/".join(parts)
    path: str = scope["path"]
    for decoded in (joined, unquote(joined)):
        if path.endswith(decoded):
            return path[: len(path) - len(decoded)] + "/".join(segment(p) for p in parts)
    return None


class SegmentPaths:
    """ASGI middleware: the router sees the path with its segments encoded (see above)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path = encoded_path(scope)
            if path is not None and path != scope["path"]:
                scope = {**scope, "path": path}
        await self.app(scope, receive, send)

"""Plain ASGI pieces the security middleware works with: reading a request's cookies,
headers, body and form field, and sending a short answer (an error, a redirect)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

from markupsafe import escape

from .limits import MAX_BODY

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def cookies(scope: Scope) -> dict[str, str]:
    """The request's cookies."""
    jar: SimpleCookie = SimpleCookie()
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed cookie header is ignored, not an error
                continue
    return {k: m.value for k, m in jar.items()}


def header(scope: Scope, name: bytes) -> str | None:
    """One request header (lower-case ``name``), or None."""
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def client_address(scope: Scope) -> str:
    """The client's address (as the server saw it)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def with_query(scope: Scope) -> str:
    """The request's path and query string."""
    query = scope.get("query_string", b"").decode("latin-1")
    return str(scope["path"]) + (f"?{query}" if query else "")


def form_field(scope: Scope, body: bytes | None, name: str) -> str | None:
    """A field of a url-encoded form body, or None."""
    kind = (header(scope, b"content-type") or "").split(";")[0].strip().lower()
    if body is None or kind != "application/x-www-form-urlencoded":
        return None
    try:
        values = parse_qs(body.decode("utf-8"), keep_blank_values=True).get(name)
    except UnicodeDecodeError:
        return None
    return values[0] if values else None


def form_values(scope: Scope, body: bytes | None, name: str) -> list[str]:
    """Every value of a field of a url-encoded form body (none when it is not one)."""
    kind = (header(scope, b"content-type") or "").split(";")[0].strip().lower()
    if body is None or kind != "application/x-www-form-urlencoded":
        return []
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True).get(name) or []
    except UnicodeDecodeError:
        return []


def too_large(scope: Scope, limit: int = MAX_BODY) -> bool:
    """Whether the request says its body is over ``limit`` bytes (or says it wrongly)."""
    length = header(scope, b"content-length")
    return length is not None and (not length.isdigit() or int(length) > limit)


async def read_body(receive: Receive, limit: int = MAX_BODY) -> bytes | None:
    """The whole request body; None when it is over ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` (read already) once, then the real one."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


async def respond(
    send: Send,
    status: int,
    body: bytes,
    kind: bytes,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """A whole answer: status, content type and length, ``extra`` headers, body."""
    headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
    await send(
        {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
    )
    await send({"type": "http.response.body", "body": body})


async def redirect(send: Send, location: str) -> None:
    """A 303 to ``location``."""
    headers = [(b"location", location.encode()), (b"content-length", b"0")]
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


def error_page(status: int, text: str, prefix: str) -> bytes:
    """A bare HTML page saying ``text`` (escaped), with a link to log in."""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Bingo</title>"
        f'<link rel="stylesheet" href="{prefix}/static/app.css"></head><body class="bare">'
        f'<main class="narrow"><h1>{status}</h1><p class="error">{escape(text)}</p>'
        f'<p><a href="{prefix}/login">Log in</a></p></main></body></html>'
    ).encode()

"""The security headers on every answer, and the dashboard's cookies.

A Content-Security-Policy with no inline script (``script-src 'self'``),
``X-Frame-Options: DENY``, ``X-Content-Type-Options: nosniff``, ``Referrer-Policy:
same-origin``; the dashboard's own pages and API answers are ``Cache-Control: no-store``.
"""

from __future__ import annotations

from .asgi import Message, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


def cookie_header(
    name: str, value: str, path: str, *, max_age: int | None, secure: bool, http_only: bool = True
) -> bytes:
    """A ``Set-Cookie`` value: SameSite=Strict, scoped to ``path``."""
    parts = [f"{name}={value}", f"Path={path}", "SameSite=Strict"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    if http_only:
        parts.append("HttpOnly")
    if secure:
        parts.append("Secure")
    return "; ".join(parts).encode()


def with_headers(send: Send, extra: list[tuple[bytes, bytes]], *, no_store: bool) -> Send:
    """``send`` adding ``extra`` to the answer's headers (a header the app set wins, every
    ``Set-Cookie`` is kept), and ``Cache-Control: no-store`` when ``no_store``."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            names = {k.lower() for k, _ in headers}
            headers += [(k, v) for k, v in extra if k == b"set-cookie" or k not in names]
            if no_store and b"cache-control" not in names:
                headers.append((b"cache-control", b"no-store"))
            message["headers"] = headers
        await send(message)

    return sending

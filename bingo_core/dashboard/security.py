"""Who may do what: keys, sessions, CSRF, rate limits and the security headers.

Everything under the dashboard's prefix needs a key; ``/metrics`` and ``/healthz`` do not.

- **Keys.** ``server.key`` is the admin key; ``dashboard.readOnlyKey`` sees everything and
  changes nothing (403 on every request that is not GET/HEAD, logout aside). A key is given
  either as ``Authorization: Bearer KEY`` on each request, or once in the login form, which
  sets a session cookie.
- **Sessions.** The cookie holds the role, signed and timestamped with itsdangerous
  (``URLSafeTimedSerializer``); it is ``HttpOnly``, ``SameSite=Strict``, scoped to the
  prefix, ``Secure`` over HTTPS, and expires after :data:`SESSION_MAX_AGE` (checked from the
  signed timestamp, whatever the browser keeps). The signing secret is derived from both
  keys, so changing either key ends every session.
- **CSRF.** A signed double-submit token: a random nonce in its own ``HttpOnly`` cookie,
  and the nonce signed with itsdangerous (``Signer``) in every form (``csrf_token``) and in a
  ``<meta>`` tag for scripts (sent back as ``X-CSRF-Token``). Every mutating request that
  relies on the cookie session (the login form included) must carry a token that verifies
  and matches the cookie's nonce; a request with ``Authorization: Bearer`` carries no
  ambient credentials and needs none.
- **Rate limit.** Wrong keys (login form or Bearer) are counted per client address; after
  :data:`MAX_FAILURES` in :data:`WINDOW` seconds every key from that address is refused
  with 429 until the window has passed.
- **Headers** on every response: a Content-Security-Policy with no inline script
  (``script-src 'self'``), ``X-Frame-Options: DENY``, ``X-Content-Type-Options: nosniff``,
  ``Referrer-Policy: same-origin``; pages and API answers are ``Cache-Control: no-store``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, quote

from itsdangerous import BadSignature, Signer, URLSafeTimedSerializer

from ..errors import UsageError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ADMIN = "admin"
READ_ONLY = "read-only"
#: Keys that must never guard a dashboard others can reach: empty, and the placeholders
#: shipped in ``config/bingo-scheduler.yaml`` and in the original service's file.
PLACEHOLDER_KEYS = frozenset({"", "change-me", "your-secret-key"})
SESSION_COOKIE = "bingo_session"
CSRF_COOKIE = "bingo_csrf"
FLASH_COOKIE = "bingo_flash"
#: How long a login lasts (seconds).
SESSION_MAX_AGE = 12 * 3600
#: Wrong keys allowed per client address in :data:`WINDOW` seconds.
MAX_FAILURES = 5
WINDOW = 60.0
#: Largest request body accepted (bytes).
MAX_BODY = 1 << 20
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
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


def is_loopback(host: str) -> bool:
    """Whether ``host`` (of ``server.addr``) only listens on this machine."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_key_policy(host: str, key: str) -> None:
    """Refuse to serve a placeholder or empty ``server.key`` beyond loopback (one line)."""
    if key in PLACEHOLDER_KEYS and not is_loopback(host):
        what = "empty" if not key else "a placeholder from a sample config"
        where = host or "every interface"
        raise UsageError(
            f"dashboard not started: server.key is {what} and server.addr listens on {where}; "
            "set server.key (or BINGO_SERVER__KEY) to a long random secret, e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))', or listen on "
            "127.0.0.1 only (server.addr: 127.0.0.1:8080)"
        )


class Auth:
    """The keys, and the signed session and CSRF tokens derived from them."""

    def __init__(self, admin_key: str, read_only_key: str = "") -> None:
        self._keys = [(admin_key.encode(), ADMIN)]
        if read_only_key:
            self._keys.append((read_only_key.encode(), READ_ONLY))
        secret = hashlib.sha256(
            b"bingo-dashboard\0" + admin_key.encode() + b"\0" + read_only_key.encode()
        ).digest()
        self._sessions = URLSafeTimedSerializer(secret, salt="bingo-session")
        self._csrf = Signer(secret, salt="bingo-csrf")
        self._flash = URLSafeTimedSerializer(secret, salt="bingo-flash")

    def role_for_key(self, key: str) -> str | None:
        """The role ``key`` grants, or None (compared in constant time)."""
        given = key.encode()
        role = None
        for known, name in self._keys:
            if known and hmac.compare_digest(given, known) and role is None:
                role = name
        return role

    def session(self, role: str) -> str:
        """A session cookie value for ``role``."""
        return self._sessions.dumps({"r": role})

    def role_for_session(self, value: str) -> str | None:
        """The role of a session cookie that verifies and has not expired."""
        try:
            data = self._sessions.loads(value, max_age=SESSION_MAX_AGE)
        except BadSignature:
            return None
        role = data.get("r") if isinstance(data, dict) else None
        return role if role in (ADMIN, READ_ONLY) else None

    def csrf_token(self, nonce: str) -> str:
        """The token forms and scripts send back for the CSRF cookie's ``nonce``."""
        return self._csrf.sign(nonce).decode()

    def csrf_ok(self, nonce: str | None, token: str | None) -> bool:
        """Whether ``token`` verifies and was made for ``nonce``."""
        if not nonce or not token:
            return False
        try:
            value = self._csrf.unsign(token).decode()
        except (BadSignature, UnicodeDecodeError):
            return False
        return hmac.compare_digest(value, nonce)

    def flash(self, text: str, kind: str) -> str:
        """A short-lived signed cookie value carrying a message to the next page."""
        return self._flash.dumps([kind, text[:500]])

    def read_flash(self, value: str) -> tuple[str, str] | None:
        """``(kind, text)`` of a flash cookie made in the last minute, else None."""
        try:
            kind, text = self._flash.loads(value, max_age=60)
        except (BadSignature, ValueError, TypeError):
            return None
        return str(kind), str(text)


class RateLimiter:
    """Wrong keys per client address in a sliding window; bounded memory."""

    def __init__(self, limit: int = MAX_FAILURES, window: float = WINDOW, size: int = 10000):
        self.limit = limit
        self.window = window
        self.size = size
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, address: str, now: float) -> deque[float]:
        times = self._failures.get(address)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[address]
        return times

    def retry_after(self, address: str) -> float:
        """Seconds until ``address`` may try a key again (0: now)."""
        now = time.monotonic()
        times = self._recent(address, now)
        if len(times) < self.limit:
            return 0.0
        return max(1.0, times[-self.limit] + self.window - now)

    def failed(self, address: str) -> None:
        """Count one wrong key from ``address``."""
        times = self._failures.setdefault(address, deque())
        self._failures.move_to_end(address)
        times.append(time.monotonic())
        while len(times) > self.limit:
            times.popleft()
        while len(self._failures) > self.size:
            self._failures.popitem(last=False)


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


class SecurityMiddleware:
    """Authentication, roles, CSRF, the rate limit, body size and the headers (ASGI).

    Sets ``scope["state"]``: ``role`` (admin, read-only or None), ``csrf_nonce`` and
    ``via`` (``bearer``, ``session`` or None).
    """

    def __init__(
        self,
        app: ASGIApp,
        auth: Auth,
        limiter: RateLimiter,
        *,
        prefix: str = "/queue",
        public: tuple[str, ...] = ("/metrics", "/healthz"),
    ) -> None:
        self.app = app
        self.auth = auth
        self.limiter = limiter
        self.prefix = prefix
        self.public = public
        self.open = (f"{prefix}/login", f"{prefix}/static/")
        self.api = f"{prefix}/api"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        jar = cookies(scope)
        nonce = jar.get(CSRF_COOKIE) or ""
        new_nonce = "" if _plausible(nonce) else secrets.token_urlsafe(18)
        nonce = new_nonce or nonce
        secure = scope.get("scheme") == "https"
        state = scope.setdefault("state", {})
        state.update(role=None, csrf_nonce=nonce, via=None)
        extra: list[tuple[bytes, bytes]] = list(HEADERS)
        if new_nonce and path.startswith(self.prefix):
            value = cookie_header(CSRF_COOKIE, new_nonce, self.prefix, max_age=None, secure=secure)
            extra.append((b"set-cookie", value))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in extra if k == b"set-cookie" or k not in names]
                own = path.startswith(self.prefix) and not path.startswith(self.open[1])
                if own and b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        if path in self.public or not path.startswith(self.prefix):
            await self.app(scope, receive, send_with_headers)
            return
        if path.startswith(self.open[1]):
            await self.app(scope, receive, send_with_headers)
            return

        length = header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            await self._refuse(send_with_headers, path, 413, "request body too large", "body")
            return
        body: bytes | None = None
        if method not in SAFE_METHODS:
            body = await _read_body(receive)
            if body is None:
                await self._refuse(send_with_headers, path, 413, "request body too large", "body")
                return

        address = client_address(scope)
        authorization = header(scope, b"authorization")
        role = None
        if authorization is not None:
            scheme, _, given = authorization.partition(" ")
            wait = self.limiter.retry_after(address)
            if wait:
                await self._too_many(send_with_headers, path, wait)
                return
            role = self.auth.role_for_key(given.strip()) if scheme.lower() == "bearer" else None
            if role is None:
                self.limiter.failed(address)
                await self._refuse(
                    send_with_headers,
                    path,
                    401,
                    "wrong key: send Authorization: Bearer <server.key or dashboard.readOnlyKey>",
                    "Authorization",
                )
                return
            state["via"] = "bearer"
        elif jar.get(SESSION_COOKIE):
            role = self.auth.role_for_session(jar[SESSION_COOKIE])
            if role is not None:
                state["via"] = "session"
        state["role"] = role

        is_login = path == self.open[0]
        if role is None and not is_login:
            if method in ("GET", "HEAD") and not path.startswith(self.api):
                target = f"{self.prefix}/login?next={quote(_with_query(scope), safe='')}"
                await _redirect(send_with_headers, target)
                return
            await self._refuse(
                send_with_headers,
                path,
                401,
                "log in first, or send Authorization: Bearer <server.key>",
                "Authorization",
            )
            return
        if method not in SAFE_METHODS:
            if state["via"] != "bearer":
                token = header(scope, b"x-csrf-token") or _form_field(scope, body, "csrf_token")
                if not self.auth.csrf_ok(jar.get(CSRF_COOKIE), token):
                    await self._refuse(
                        send_with_headers,
                        path,
                        403,
                        "missing or wrong CSRF token: reload the page and try again",
                        "csrf_token",
                    )
                    return
            if role == READ_ONLY and path != f"{self.prefix}/logout":
                await self._refuse(
                    send_with_headers,
                    path,
                    403,
                    "the read-only key cannot change anything: log in with server.key",
                    "Authorization",
                )
                return
        await self.app(
            scope, _replay(body, receive) if body is not None else receive, send_with_headers
        )

    async def _refuse(self, send: Send, path: str, status: int, text: str, field: str) -> None:
        if path.startswith(self.api):
            await _respond(
                send,
                status,
                json.dumps({"error": text, "field": field}).encode(),
                b"application/json",
            )
        else:
            await _respond(
                send, status, _error_page(status, text, self.prefix), b"text/html; charset=utf-8"
            )

    async def _too_many(self, send: Send, path: str, wait: float) -> None:
        text = f"too many wrong keys from this address: try again in {int(wait)} s"
        extra = [(b"retry-after", str(int(wait)).encode())]
        if path.startswith(self.api):
            body = json.dumps({"error": text, "field": "Authorization"}).encode()
            await _respond(send, 429, body, b"application/json", extra)
        else:
            await _respond(
                send, 429, _error_page(429, text, self.prefix), b"text/html; charset=utf-8", extra
            )


def _plausible(nonce: str) -> bool:
    return 16 <= len(nonce) <= 64 and all(c.isalnum() or c in "-_" for c in nonce)


def _with_query(scope: Scope) -> str:
    query = scope.get("query_string", b"").decode("latin-1")
    return str(scope["path"]) + (f"?{query}" if query else "")


def _form_field(scope: Scope, body: bytes | None, name: str) -> str | None:
    kind = (header(scope, b"content-type") or "").split(";")[0].strip().lower()
    if body is None or kind != "application/x-www-form-urlencoded":
        return None
    try:
        values = parse_qs(body.decode("utf-8"), keep_blank_values=True).get(name)
    except UnicodeDecodeError:
        return None
    return values[0] if values else None


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    kind: bytes,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
    await send(
        {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
    )
    await send({"type": "http.response.body", "body": body})


async def _redirect(send: Send, location: str) -> None:
    headers = [(b"location", location.encode()), (b"content-length", b"0")]
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


def _error_page(status: int, text: str, prefix: str) -> bytes:
    from markupsafe import escape

    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Bingo</title>"
        f'<link rel="stylesheet" href="{prefix}/static/app.css"></head><body class="bare">'
        f'<main class="narrow"><h1>{status}</h1><p class="error">{escape(text)}</p>'
        f'<p><a href="{prefix}/login">Log in</a></p></main></body></html>'
    ).encode()

"""The security middleware: each request under the prefix is checked in order, and the
first check that fails answers it (a JSON error under the API, a page elsewhere).

0. where from: the client address and scheme a trusted proxy forwarded (:mod:`.proxies`);
1. the body: at most ``max_body`` bytes (:func:`~.limits.body_limit`);
2. who: ``Authorization: Bearer KEY`` (wrong keys are rate limited per address) or the
   session cookie (a login kept in Redis);
3. whether: no role is a redirect to the login form (pages) or 401 (API); a change needs
   a CSRF token made for the login (for the cookie's nonce on the login form), unless it
   came with a Bearer key, which carries no ambient credentials, and the admin role
   (logout aside, and the :class:`DryRun` posts: checks that write nothing).

Redis out of reach while the secret or a login is read is a 503 in one line.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool

from ...errors import ServiceUnavailable
from .asgi import (
    ASGIApp,
    Receive,
    Scope,
    Send,
    client_address,
    cookies,
    error_page,
    form_field,
    form_values,
    header,
    read_body,
    redirect,
    replay,
    respond,
    too_large,
    with_query,
)
from .headers import HEADERS, cookie_header, with_headers
from .keys import CSRF_COOKIE, READ_ONLY, SESSION_COOKIE, Auth, plausible_nonce
from .limits import MAX_BODY
from .proxies import TrustedProxies
from .ratelimit import RateLimiter

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Why a read-only login may not make a change.
READ_ONLY_TEXT = "the read-only key cannot change anything: log in with server.key"


@dataclass(slots=True)
class Refusal:
    """How a request is refused: an error, or a redirect to ``location``."""

    status: int
    text: str = ""
    field: str = ""
    extra: tuple[tuple[bytes, bytes], ...] = ()
    location: str = ""


@dataclass(frozen=True, slots=True)
class DryRun:
    """A POST that writes nothing (a "Check"), which the read-only key may send too:
    its path (a regular expression matching the whole path), and the form field that
    asks for the check and its value (every value the body gives the field must be it;
    no field: the whole route writes nothing). CSRF is checked for it as for any post."""

    path: str
    field: str = ""
    value: str = ""

    def matches(self, scope: Scope, body: bytes | None) -> bool:
        """Whether the request is this dry run."""
        if not re.fullmatch(self.path, scope["path"]):
            return False
        if not self.field:
            return True
        values = form_values(scope, body, self.field)
        return bool(values) and all(v == self.value for v in values)


class SecurityMiddleware:
    """Authentication, roles, CSRF, the rate limit, body size and the headers (ASGI).

    Sets ``scope["state"]``: ``role`` (admin, read-only or None), ``via`` (``bearer``,
    ``session`` or None), ``session`` (the login's id), ``csrf_nonce`` and ``csrf_token``
    (what the page's forms send back).
    """

    def __init__(
        self,
        app: ASGIApp,
        auth: Auth,
        limiter: RateLimiter,
        *,
        prefix: str = "/queue",
        public: tuple[str, ...] = ("/metrics", "/healthz"),
        proxies: TrustedProxies | None = None,
        max_body: int = MAX_BODY,
        dry_runs: tuple[DryRun, ...] = (),
    ) -> None:
        self.app = app
        self.auth = auth
        self.limiter = limiter
        self.prefix = prefix
        self.public = public
        self.proxies = proxies or TrustedProxies()
        self.max_body = max_body
        self.dry_runs = dry_runs
        self.too_large = Refusal(
            413, f"request body too large: at most {max_body} bytes are accepted", "body"
        )
        self.login = f"{prefix}/login"
        self.static = f"{prefix}/static/"
        self.api = f"{prefix}/api"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.proxies.apply(scope)
        path: str = scope["path"]
        jar = cookies(scope)
        send = self._with_headers(scope, send, jar)
        if path in self.public or not path.startswith(self.prefix) or path.startswith(self.static):
            await self.app(scope, receive, send)
            return
        body: bytes | None = None
        refusal: Refusal | None = self.too_large if too_large(scope, self.max_body) else None
        if refusal is None and scope["method"] not in SAFE_METHODS:
            body = await read_body(receive, self.max_body)
            refusal = self.too_large if body is None else None
        if refusal is None:
            try:
                refusal = await self._authenticate(scope, jar)
                refusal = refusal or self._authorize(scope, jar, body)
            except ServiceUnavailable as exc:
                refusal = Refusal(503, str(exc))
        if refusal is not None:
            await self._refuse(send, path, refusal)
            return
        await self.app(scope, replay(body, receive) if body is not None else receive, send)

    def _with_headers(self, scope: Scope, send: Send, jar: dict[str, str]) -> Send:
        """``send`` with the security headers, and a new CSRF nonce (cookie and state)
        when the request has none that this dashboard could have made."""
        path: str = scope["path"]
        nonce = jar.get(CSRF_COOKIE) or ""
        extra = list(HEADERS)
        if not plausible_nonce(nonce):
            nonce = secrets.token_urlsafe(18)
            if path.startswith(self.prefix):
                secure = scope.get("scheme") == "https"
                value = cookie_header(CSRF_COOKIE, nonce, self.prefix, max_age=None, secure=secure)
                extra.append((b"set-cookie", value))
        state = scope.setdefault("state", {})
        state.update(role=None, csrf_nonce=nonce, via=None, session=None, csrf_token="")
        own = path.startswith(self.prefix) and not path.startswith(self.static)
        return with_headers(send, extra, no_store=own)

    async def _authenticate(self, scope: Scope, jar: dict[str, str]) -> Refusal | None:
        """Set the role from a Bearer key (refused when wrong or rate limited) or from the
        session cookie, and the CSRF token the answer's pages carry."""
        state: dict[str, Any] = scope["state"]
        authorization = header(scope, b"authorization")
        if authorization is not None:
            address = client_address(scope)
            wait = int(self.limiter.retry_after(address))
            if wait:
                text = f"too many wrong keys from this address: try again in {wait} s"
                return Refusal(429, text, "Authorization", ((b"retry-after", str(wait).encode()),))
            scheme, _, given = authorization.partition(" ")
            role = self.auth.role_for_key(given.strip()) if scheme.lower() == "bearer" else None
            if role is None:
                self.limiter.failed(address)
                return Refusal(
                    401,
                    "wrong key: send Authorization: Bearer <server.key or dashboard.readOnlyKey>",
                    "Authorization",
                )
            state.update(role=role, via="bearer")
            if not self.auth.ready:  # a Bearer key needs no CSRF token, nor the secret
                return None
        if not self.auth.ready:
            await run_in_threadpool(self.auth.load)
        if state["via"] is None and jar.get(SESSION_COOKIE):
            session = jar[SESSION_COOKIE]
            role = await run_in_threadpool(self.auth.role_for_session, session)
            if role is not None:
                state.update(role=role, via="session", session=session)
        state["csrf_token"] = self.auth.csrf_token(self._csrf_session(scope), state["csrf_nonce"])
        return None

    def _csrf_session(self, scope: Scope) -> str | None:
        """The login CSRF tokens are bound to; none on the login form, which binds them to
        the CSRF cookie's nonce."""
        return None if scope["path"] == self.login else scope["state"]["session"]

    def _authorize(self, scope: Scope, jar: dict[str, str], body: bytes | None) -> Refusal | None:
        """Whether the role set may make this request (the login form needs none)."""
        state: dict[str, Any] = scope["state"]
        path: str = scope["path"]
        method: str = scope["method"]
        if state["role"] is None and path != self.login:
            if method in ("GET", "HEAD") and not path.startswith(self.api):
                target = quote(with_query(scope), safe="")
                return Refusal(303, location=f"{self.login}?next={target}")
            text = "log in first, or send Authorization: Bearer <server.key>"
            return Refusal(401, text, "Authorization")
        if method in SAFE_METHODS:
            return None
        if state["via"] != "bearer":
            token = header(scope, b"x-csrf-token") or form_field(scope, body, "csrf_token")
            if not self.auth.csrf_ok(self._csrf_session(scope), jar.get(CSRF_COOKIE), token):
                text = "missing or wrong CSRF token: reload the page and try again"
                return Refusal(403, text, "csrf_token")
        if state["role"] == READ_ONLY and path != f"{self.prefix}/logout":
            if any(d.matches(scope, body) for d in self.dry_runs):
                return None
            return Refusal(403, READ_ONLY_TEXT, "Authorization")
        return None

    async def _refuse(self, send: Send, path: str, refusal: Refusal) -> None:
        if refusal.location:
            await redirect(send, refusal.location)
        elif path.startswith(self.api):
            body = json.dumps({"error": refusal.text, "field": refusal.field}).encode()
            await respond(send, refusal.status, body, b"application/json", list(refusal.extra))
        else:
            page = error_page(refusal.status, refusal.text, self.prefix)
            await respond(
                send, refusal.status, page, b"text/html; charset=utf-8", list(refusal.extra)
            )

"""Who may do what: keys and sessions (:mod:`.keys`), CSRF and roles (:mod:`.middleware`),
the rate limit on wrong keys (:mod:`.ratelimit`) and the headers (:mod:`.headers`).

Everything under the dashboard's prefix needs a key; ``/metrics`` and ``/healthz`` do not.
``server.key`` is the admin key; ``dashboard.readOnlyKey`` sees everything and changes
nothing. A key is given as ``Authorization: Bearer KEY`` on each request, or once in the
login form, which starts a login kept in Redis and sets a cookie with its random id
(``HttpOnly``, ``SameSite=Strict``, scoped to the prefix, ``Secure`` over HTTPS, expiring
after ``SESSION_MAX_AGE``). The CSRF token in every form (``csrf_token``) and in a
``<meta>`` tag for scripts (sent back as ``X-CSRF-Token``) is bound to the login. Tokens
are signed with a random secret shared through Redis (:mod:`.keys`). Client addresses
come from ``X-Forwarded-For`` only for peers in ``dashboard.trustedProxies``
(:mod:`.proxies`); bodies are bounded in size and JSON depth (:mod:`.limits`).
"""

from __future__ import annotations

from .asgi import client_address
from .headers import CSP, HEADERS, cookie_header
from .keys import (
    ADMIN,
    CSRF_COOKIE,
    FLASH_COOKIE,
    PLACEHOLDER_KEYS,
    READ_ONLY,
    SESSION_COOKIE,
    SESSION_MAX_AGE,
    Auth,
    check_key_policy,
    is_loopback,
)
from .limits import MAX_BODY, MAX_JSON_DEPTH, JsonTooDeep, body_limit, load_json
from .middleware import READ_ONLY_TEXT, DryRun, SecurityMiddleware
from .proxies import TrustedProxies
from .ratelimit import MAX_FAILURES, WINDOW, RateLimiter

__all__ = [
    "ADMIN",
    "CSP",
    "CSRF_COOKIE",
    "FLASH_COOKIE",
    "HEADERS",
    "MAX_BODY",
    "MAX_FAILURES",
    "MAX_JSON_DEPTH",
    "PLACEHOLDER_KEYS",
    "READ_ONLY",
    "READ_ONLY_TEXT",
    "SESSION_COOKIE",
    "SESSION_MAX_AGE",
    "WINDOW",
    "Auth",
    "DryRun",
    "JsonTooDeep",
    "RateLimiter",
    "SecurityMiddleware",
    "TrustedProxies",
    "body_limit",
    "check_key_policy",
    "client_address",
    "cookie_header",
    "is_loopback",
    "load_json",
]

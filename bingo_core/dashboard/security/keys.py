"""The keys and what they grant: the admin and read-only roles, the key policy, the
logins kept in Redis and the CSRF and flash tokens signed with the dashboard's secret.

The signing secret is random (``secrets.token_bytes``) and kept in Redis, so every daemon
shares it; beside it is an HMAC of the configured keys made with it, never the keys. A
daemon whose keys do not match that digest draws a new secret and ends every login: so a
key change ends all sessions, and nothing an anonymous visitor receives (the login form's
CSRF token) can verify a guess of a key.

A login is a random id in the cookie; Redis keeps only an HMAC of it, with the role, for
:data:`SESSION_MAX_AGE`. Logging out deletes it, so a copied cookie stops working. The
CSRF token of a page is an HMAC of its login's id (of the CSRF cookie's nonce before
logging in), so a token from another session is refused.

:class:`Auth` blocks on Redis the first time it needs the secret and for each login it
looks up: the middleware runs those calls in a worker thread.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import threading
from typing import TYPE_CHECKING

from itsdangerous import BadSignature, URLSafeTimedSerializer

from ...errors import UsageError

if TYPE_CHECKING:
    from ...broker import DashboardStore

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


def plausible_nonce(nonce: str) -> bool:
    """Whether a CSRF cookie's value (or a session id) looks like one this dashboard made."""
    return 16 <= len(nonce) <= 64 and all(c.isalnum() or c in "-_" for c in nonce)


def _mac(secret: bytes, *parts: bytes) -> str:
    return hmac.new(secret, b"\0".join(parts), hashlib.sha256).hexdigest()


class Auth:
    """The keys, the shared secret and the logins (see the module's note)."""

    def __init__(self, admin_key: str, read_only_key: str, store: DashboardStore) -> None:
        self._keys = [(admin_key.encode(), ADMIN)]
        if read_only_key:
            self._keys.append((read_only_key.encode(), READ_ONLY))
        self._material = b"\0".join(
            [b"bingo-dashboard", admin_key.encode(), read_only_key.encode()]
        )
        self._store = store
        self._secret: bytes | None = None
        self._flash: URLSafeTimedSerializer | None = None
        self._lock = threading.Lock()

    def role_for_key(self, key: str) -> str | None:
        """The role ``key`` grants, or None (compared in constant time)."""
        given = key.encode()
        role = None
        for known, name in self._keys:
            if known and hmac.compare_digest(given, known) and role is None:
                role = name
        return role

    # -- the secret -----------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """Whether the secret is loaded (else :meth:`load` must run first, off the loop)."""
        return self._secret is not None

    @property
    def secret(self) -> bytes:
        """The shared signing secret (loaded from Redis, or drawn, on first use)."""
        if self._secret is None:
            self.load()
        assert self._secret is not None
        return self._secret

    def load(self) -> None:
        """Read the shared secret; draw a new one (ending every login) when there is none
        or it was drawn for other keys. Blocks on Redis."""
        with self._lock:
            if self._secret is None:
                self._secret = self._shared_secret()
                self._flash = URLSafeTimedSerializer(self._secret, salt="bingo-flash")

    def _matching(self, record: str) -> bytes | None:
        """The secret of a stored record, when it was drawn for this process's keys."""
        secret_hex, _, digest = record.partition(":")
        try:
            secret = bytes.fromhex(secret_hex)
        except ValueError:
            return None
        if len(secret) < 32 or not hmac.compare_digest(digest, _mac(secret, self._material)):
            return None
        return secret

    def _shared_secret(self) -> bytes:
        record = self._store.secret()
        for _ in range(3):
            found = self._matching(record)
            if found is not None:
                return found
            fresh = secrets.token_bytes(32)
            value = f"{fresh.hex()}:{_mac(fresh, self._material)}"
            kept = self._store.swap_secret(record, value)
            if kept == value:
                if record:  # the keys changed: every login made with the old ones ends
                    self._store.end_sessions()
                return fresh
            record = kept  # another daemon drew one in between: use it if it matches
        return fresh

    # -- logins ---------------------------------------------------------------------------
    def _ref(self, session_id: str) -> str:
        return _mac(self.secret, b"session", session_id.encode())

    def start_session(self, role: str) -> str:
        """A new login for ``role``: the id for the cookie. Blocks on Redis."""
        session_id = secrets.token_urlsafe(32)
        self._store.start_session(self._ref(session_id), role, SESSION_MAX_AGE)
        return session_id

    def role_for_session(self, session_id: str) -> str | None:
        """The role of a login that has not ended or expired. Blocks on Redis."""
        if not plausible_nonce(session_id):
            return None
        role = self._store.session_role(self._ref(session_id))
        return role if role in (ADMIN, READ_ONLY) else None

    def end_session(self, session_id: str) -> None:
        """End a login (logging out). Blocks on Redis."""
        if plausible_nonce(session_id):
            self._store.end_session(self._ref(session_id))

    # -- CSRF and flash -------------------------------------------------------------------
    def csrf_token(self, session_id: str | None, nonce: str) -> str:
        """The token pages carry: bound to the login ``session_id``, else (the login form)
        to the CSRF cookie's ``nonce``."""
        if session_id:
            return _mac(self.secret, b"csrf-session", session_id.encode())
        return _mac(self.secret, b"csrf-nonce", nonce.encode())

    def csrf_ok(self, session_id: str | None, nonce: str | None, token: str | None) -> bool:
        """Whether ``token`` was made for this login (or, with no login, this nonce)."""
        if not token or not (session_id or nonce):
            return False
        return hmac.compare_digest(
            token.encode(), self.csrf_token(session_id, nonce or "").encode()
        )

    def flash(self, text: str, kind: str) -> str:
        """A short-lived signed cookie value carrying a message to the next page."""
        self.secret  # noqa: B018 - loads the secret (and the serializer) on first use
        assert self._flash is not None
        return self._flash.dumps([kind, text[:500]])

    def read_flash(self, value: str) -> tuple[str, str] | None:
        """``(kind, text)`` of a flash cookie made in the last minute, else None."""
        self.secret  # noqa: B018 - loads the secret (and the serializer) on first use
        assert self._flash is not None
        try:
            kind, text = self._flash.loads(value, max_age=60)
        except (BadSignature, ValueError, TypeError):
            return None
        return str(kind), str(text)

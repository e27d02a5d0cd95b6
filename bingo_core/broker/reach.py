"""Reaching Redis: ``host:port`` addresses, the errors that mean Redis is not usable right
now, and how such an error is told: one short reason and the hint for the configured mode
(plain, Sentinel or Cluster). :mod:`.connection` and :mod:`.cluster` both build on it.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import redis.exceptions as rexc
from redis._parsers.base import BaseParser

from ..errors import ServiceUnavailable

if TYPE_CHECKING:
    from ..config.settings import RedisSettings


class NoReplicasError(rexc.ResponseError):
    """``NOREPLICAS``: the master refuses writes while fewer replicas than its
    ``min-replicas-to-write`` are in sync (a choice that narrows what a failover loses)."""


# redis-py maps reply codes to exception classes in one table; it has no entry for this one.
_codes = BaseParser.EXCEPTION_CLASSES
if "NOREPLICAS" not in _codes:
    _codes["NOREPLICAS"] = NoReplicasError

#: Errors that mean Redis is not usable right now (the daemon's loops retry on them): no
#: connection, a cluster that lost a node or moves slots, a master that became a replica or
#: lacks in-sync replicas, something other than Redis at the address.
CONNECTION_ERRORS = (
    rexc.ConnectionError,
    rexc.TimeoutError,
    rexc.InvalidResponse,
    rexc.ClusterDownError,
    rexc.TryAgainError,
    rexc.ReadOnlyError,
    NoReplicasError,
    OSError,
)
HINT = "start redis-server there or set redis.host / BINGO_REDIS__HOST"
#: Where no Redis is named and the embedded one's socket is used (see :mod:`.embedded`).
EMBEDDED_HINT = "the daemon runs the embedded Redis: start it, or set redis.host or redis.url"
SENTINEL_DOWN_HINT = "start the sentinels or fix redis.sentinel.hosts"
CLUSTER_HINT = "start the cluster's nodes or fix redis.cluster.nodes"
#: Longest reason kept in a one-line error.
REASON_CHARS = 90


def split(hostport: str) -> tuple[str, int]:
    """``"host:port"`` -> ``("host", port)`` (6379 when no port is given)."""
    host, _, port = hostport.rpartition(":")
    if not host:
        return hostport, 6379
    return host.strip("[]"), int(port)


def short_reason(exc: BaseException, *, where: bool = True) -> str:
    """The gist of a redis-py error on one short line: ``Error 111 connecting to h:p.
    Connect call failed ('h', p).`` -> ``Connection refused (h:p)`` (without the address
    unless ``where``)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    # redis-py's pipelines prefix the failing command (with all its arguments).
    text = re.sub(r"^Command # \d+ \(.*\) of pipeline caused error: ", "", text)
    found = re.match(r"Error (-?\d+) connecting to (\S+?)\.? (.+)", text)
    if found:
        number, address, what = found.groups()
        if int(number) > 0:
            what = os.strerror(int(number))
        text = what.rstrip(".") + (f" ({address})" if where else "")
    elif text.startswith("Timeout connecting to server"):
        text = "connect timeout"
    elif isinstance(exc, rexc.InvalidResponse):
        text = f"not a Redis server ({text})"
    if len(text) > REASON_CHARS:
        text = text[: REASON_CHARS - 3].rstrip() + "..."
    return text.rstrip(".") if not text.endswith("...") else text


def hint(cfg: RedisSettings, exc: BaseException | None = None) -> str:
    """What to do about an unreachable Redis, for the configured mode."""
    found = getattr(exc, "hint", None)
    if isinstance(found, str):
        return found
    if isinstance(exc, NoReplicasError):
        return "the master takes writes again once its replicas catch up (min-replicas-to-write)"
    if cfg.sentinel is not None:
        if isinstance(exc, rexc.ReadOnlyError):
            return "the master became a replica; the sentinels name the new one"
        return "a failover follows once the sentinels see it down"
    if cfg.cluster is not None:
        return CLUSTER_HINT
    if cfg.url.startswith("unix://") and cfg.url.endswith("/storage/redis.sock"):
        return EMBEDDED_HINT
    return HINT


#: What to do when Redis refuses the login.
AUTH_HINT = (
    "set redis.password, and redis.username for an ACL user; or BINGO_REDIS__PASSWORD, "
    "or the password in redis.url"
)
#: What to do when Redis has no such database.
DATABASE_HINT = (
    "set redis.database, or the /N of redis.url, below the server's 'databases' "
    "setting: 0 to 15 by default"
)
#: Replies meaning no password was given to a server that requires one (RESP2, RESP3).
_NO_PASSWORD = ("Authentication required", "NOAUTH", "HELLO must be called")


def refusal(cfg: RedisSettings, exc: BaseException) -> ServiceUnavailable | None:
    """The one-line error for a Redis that answers but refuses the login or the database
    (its own state and hint: starting a server would not help), else None."""
    text = " ".join(str(exc).split())
    if "DB index is out of range" in text:
        number = urlsplit(cfg.url).path.strip("/") if cfg.url else str(cfg.database)
        reason = f"database {number}: DB index is out of range"
        return ServiceUnavailable(
            "Redis", cfg.address, reason, DATABASE_HINT, state="refused the database"
        )
    no_password = any(text.startswith(s) or s in text for s in _NO_PASSWORD)
    if isinstance(exc, rexc.AuthenticationError) or no_password or text.startswith("WRONGPASS"):
        if no_password:
            reason = "it requires a password and none was given"
        else:
            reason = "wrong password, or the user is unknown or disabled"
        return ServiceUnavailable(
            "Redis", cfg.address, reason, AUTH_HINT, state="refused the login"
        )
    return None


def unavailable(cfg: RedisSettings, exc: BaseException) -> ServiceUnavailable:
    """The one-line error for a Redis that does not answer (a short reason, one hint), or
    that refuses the login or the database (:func:`refusal`)."""
    refused = refusal(cfg, exc)
    if refused is not None:
        return refused
    reason = short_reason(exc)
    if reason == "connect timeout":
        reason = f"no answer within {cfg.connect_timeout:g}s (redis.connectTimeout)"
    return ServiceUnavailable("Redis", cfg.address, reason, hint(cfg, exc))

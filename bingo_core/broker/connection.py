"""Redis connections from the ``redis`` settings: plain, URL, Sentinel or Cluster.

All through redis-py's own clients: ``redis.Redis``, ``redis.sentinel.Sentinel`` (its
``SentinelConnectionPool`` follows a failover) and ``redis.cluster.RedisCluster`` (see
:mod:`.cluster` for what Bingo adds to it), and their asyncio twins.

Timeouts and retries: every connection gives up connecting after ``redis.connectTimeout``
(default 0.5 s) and reading after ``redis.socketTimeout``. The synchronous client (CLI,
:class:`~bingo_core.client.Client`, inspector) tries each command once, so a Redis that is
not there is reported at once; the daemon's loops retry for as long as it takes, logging the
outage once and the recovery once.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

import redis
import redis.exceptions as rexc
from redis._parsers.base import BaseParser
from redis.sentinel import MasterNotFoundError, Sentinel

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
SENTINEL_DOWN_HINT = "start the sentinels or fix redis.sentinel.hosts"
CLUSTER_HINT = "start the cluster's nodes or fix redis.cluster.nodes"
#: Longest reason kept in a one-line error.
REASON_CHARS = 90

_fast_pack: list[type] = []


def fast_pack_connection() -> type:
    """redis-py's asyncio connection with commands packed by hiredis (C) instead of Python.

    The sync client already does this; the asyncio one does not, and packing is the
    largest cost of the worker's fetch and ack calls. (Built on first use: importing
    redis.asyncio is slow, and the CLI's sync paths do not need it.)
    """
    if not _fast_pack:
        import hiredis
        import redis.asyncio as aredis

        pack = hiredis.pack_command

        class FastPackConnection(aredis.Connection):
            def pack_command(self, *args: Any) -> list[bytes]:
                if isinstance(args[0], str) and " " not in args[0]:
                    try:
                        return [pack(args)]
                    except TypeError:
                        pass
                return super().pack_command(*args)

        _fast_pack.append(FastPackConnection)
    return _fast_pack[0]


def split(hostport: str) -> tuple[str, int]:
    """``"host:port"`` -> ``("host", port)`` (6379 when no port is given)."""
    host, _, port = hostport.rpartition(":")
    if not host:
        return hostport, 6379
    return host.strip("[]"), int(port)


def _common(cfg: RedisSettings) -> dict[str, Any]:
    return {
        "password": cfg.password or None,
        "username": cfg.username or None,
        "socket_timeout": cfg.socket_timeout or None,
        "socket_connect_timeout": cfg.connect_timeout or None,
        # One attempt per command: the CLI reports an outage at once, the daemon's loops
        # retry on their own schedule. (The cluster client gets its own retry policy.)
        "retry": None,
    }


def sentinel_kwargs(cfg: RedisSettings) -> dict[str, Any]:
    """Connection settings of the connections to the sentinels themselves."""
    assert cfg.sentinel is not None
    return {
        "password": cfg.sentinel.password or None,
        "socket_timeout": cfg.connect_timeout or cfg.socket_timeout or None,
        "socket_connect_timeout": cfg.connect_timeout or None,
        "retry": None,
    }


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


class NoMaster(MasterNotFoundError):
    """No sentinel named a usable master: a short message and the hint that fits."""

    def __init__(self, text: str, hint: str) -> None:
        super().__init__(text)
        self.hint = hint


def _no_master(name: str, answered: int, total: int, errors: list[BaseException]) -> NoMaster:
    if not answered:
        first = short_reason(errors[0], where=False) if errors else "none configured"
        return NoMaster(f"no sentinel answered ({first})", SENTINEL_DOWN_HINT)
    return NoMaster(
        f"{answered}/{total} sentinels name no healthy master",
        "a failover is under way, or redis.sentinel.masterName is wrong",
    )


class ShortSentinel(Sentinel):
    """redis-py's Sentinel whose master lookup fails in one short line.

    redis-py joins the repr of every sentinel's error into the message (about 1,000
    characters for three sentinels); the daemon logs that message once per outage.
    """

    def discover_master(self, service_name: str) -> tuple[str, int]:
        errors: list[BaseException] = []
        for i, sentinel in enumerate(self.sentinels):
            try:
                masters: Any = sentinel.sentinel_masters()
            except (rexc.ConnectionError, rexc.TimeoutError) as exc:
                errors.append(exc)
                continue
            state = masters.get(service_name)
            if state and self.check_master_state(state, service_name):  # type: ignore[no-untyped-call]
                self.sentinels[0], self.sentinels[i] = sentinel, self.sentinels[0]
                return state["ip"], state["port"]
        n = len(self.sentinels)
        raise _no_master(service_name, n - len(errors), n, errors)


_async_sentinel: list[type] = []


def short_async_sentinel() -> type:
    """:class:`ShortSentinel`'s asyncio twin (built on first use: redis.asyncio is slow
    to import)."""
    if not _async_sentinel:
        from redis.asyncio.sentinel import Sentinel as AsyncSentinel

        class ShortAsyncSentinel(AsyncSentinel):
            async def discover_master(self, service_name: str) -> tuple[str, int]:
                errors: list[BaseException] = []
                for i, sentinel in enumerate(self.sentinels):
                    try:
                        masters: Any = await sentinel.sentinel_masters()
                    except (rexc.ConnectionError, rexc.TimeoutError) as exc:
                        errors.append(exc)
                        continue
                    state = masters.get(service_name)
                    if state and self.check_master_state(state, service_name):
                        self.sentinels[0], self.sentinels[i] = sentinel, self.sentinels[0]
                        return state["ip"], state["port"]
                n = len(self.sentinels)
                raise _no_master(service_name, n - len(errors), n, errors)

        _async_sentinel.append(ShortAsyncSentinel)
    return _async_sentinel[0]


def sentinel_manager(cfg: RedisSettings, *, asyncio: bool = False, blocking: bool = False) -> Any:
    """The redis-py ``Sentinel`` (or its asyncio twin) for ``redis.sentinel``."""
    assert cfg.sentinel is not None
    common = _common(cfg)
    if blocking:
        common["socket_timeout"] = None
    cls = short_async_sentinel() if asyncio else ShortSentinel
    return cls(
        [split(h) for h in cfg.sentinel.hosts],
        sentinel_kwargs=sentinel_kwargs(cfg),
        **common,
    )


def make_sync(cfg: RedisSettings) -> Any:
    """A synchronous redis-py client for the settings (one attempt per command).

    Raises :class:`ServiceUnavailable` when a Redis Cluster cannot be reached at all (its
    client learns the slot map when it is built)."""
    common = _common(cfg)
    if cfg.sentinel is not None:
        return sentinel_manager(cfg).master_for(cfg.sentinel.master_name, db=cfg.database)
    if cfg.cluster is not None:
        from .cluster import make_sync_cluster

        return make_sync_cluster(cfg, common)
    if cfg.url:
        return redis.Redis.from_url(
            cfg.url,
            socket_timeout=common["socket_timeout"],
            socket_connect_timeout=common["socket_connect_timeout"],
            retry=None,
        )
    host, port = split(cfg.host)
    return redis.Redis(host=host, port=port, db=cfg.database, **common)


def make_async(cfg: RedisSettings, *, blocking: bool = False) -> Any:
    """An asyncio redis-py client; ``blocking`` clients have no read timeout (BLPOP)."""
    import redis.asyncio as aredis

    common = _common(cfg)
    if blocking:
        common["socket_timeout"] = None
    if cfg.sentinel is not None:
        manager = sentinel_manager(cfg, asyncio=True, blocking=blocking)
        return manager.master_for(cfg.sentinel.master_name, db=cfg.database)
    if cfg.cluster is not None:
        from .cluster import make_async_cluster

        return make_async_cluster(cfg, common)
    if cfg.url:
        pool = aredis.ConnectionPool.from_url(
            cfg.url,
            socket_timeout=common["socket_timeout"],
            socket_connect_timeout=common["socket_connect_timeout"],
        )
        if pool.connection_class is aredis.Connection:
            pool.connection_class = fast_pack_connection()
        return aredis.Redis.from_pool(pool)
    host, port = split(cfg.host)
    pool = aredis.ConnectionPool(
        host=host, port=port, db=cfg.database, connection_class=fast_pack_connection(), **common
    )
    return aredis.Redis.from_pool(pool)


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
    return HINT


def unavailable(cfg: RedisSettings, exc: BaseException) -> ServiceUnavailable:
    """The one-line error for a Redis that does not answer (a short reason, one hint)."""
    reason = short_reason(exc)
    if reason == "connect timeout":
        reason = f"no answer within {cfg.connect_timeout:g}s (redis.connectTimeout)"
    return ServiceUnavailable("Redis", cfg.address, reason, hint(cfg, exc))

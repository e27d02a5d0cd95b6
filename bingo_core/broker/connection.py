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

from typing import TYPE_CHECKING, Any

import redis
import redis.asyncio as aredis
import redis.exceptions as rexc
from hiredis import pack_command
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.sentinel import MasterNotFoundError, Sentinel

from .cluster import make_async_cluster, make_sync_cluster

try:
    # redis-py 7.1 on: the name and version a client gives in CLIENT SETINFO. Given, the
    # client does not read its version from the installed distribution's metadata
    # (importlib.metadata and the e-mail parser: milliseconds of every CLI command).
    from redis.driver_info import DriverInfo
except ImportError:  # older redis-py reads it once, at import
    _DRIVER: dict[str, Any] = {}
else:
    _DRIVER = {"driver_info": DriverInfo(lib_version=redis.__version__)}
from .reach import (
    CONNECTION_ERRORS,
    SENTINEL_DOWN_HINT,
    NoReplicasError,
    hint,
    short_reason,
    split,
    unavailable,
)

if TYPE_CHECKING:
    from ..config.settings import RedisSettings

#: The errors and their one-line telling are :mod:`.reach`'s, named here too for the
#: broker's callers.
__all__ = [
    "CONNECTION_ERRORS",
    "FastPackConnection",
    "NoMaster",
    "NoReplicasError",
    "ShortAsyncSentinel",
    "ShortSentinel",
    "hint",
    "make_async",
    "make_sync",
    "sentinel_kwargs",
    "sentinel_manager",
    "short_reason",
    "split",
    "unavailable",
]


class FastPackConnection(aredis.Connection):
    """redis-py's asyncio connection with commands packed by hiredis (C) instead of Python.

    The sync client already does this; the asyncio one does not, and packing is the
    largest cost of the worker's fetch and ack calls."""

    def pack_command(self, *args: Any) -> list[bytes]:
        if isinstance(args[0], str) and " " not in args[0]:
            try:
                return [pack_command(args)]
            except TypeError:
                pass
        return super().pack_command(*args)


#: Connections a blocking client may open (one per blocked command).
BLOCKING_CONNECTIONS = 100_000


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


class ShortAsyncSentinel(AsyncSentinel):
    """The asyncio twin of :class:`ShortSentinel`."""

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


def sentinel_manager(cfg: RedisSettings, *, asyncio: bool = False, blocking: bool = False) -> Any:
    """The redis-py ``Sentinel`` (or its asyncio twin) for ``redis.sentinel``."""
    assert cfg.sentinel is not None
    common = _common(cfg)
    if blocking:
        common["socket_timeout"] = None
        common["max_connections"] = BLOCKING_CONNECTIONS
    cls = ShortAsyncSentinel if asyncio else ShortSentinel
    return cls(
        [split(h) for h in cfg.sentinel.hosts],
        sentinel_kwargs=sentinel_kwargs(cfg),
        **common,
    )


def make_sync(cfg: RedisSettings, *, blocking: bool = False) -> Any:
    """A synchronous redis-py client for the settings (one attempt per command);
    ``blocking`` clients have no read timeout (BLPOP) and no low bound on their
    connections (each blocked command holds one: ``Client.wait`` from many threads).

    Raises :class:`ServiceUnavailable` when a Redis Cluster cannot be reached at all (its
    client learns the slot map when it is built)."""
    common = _common(cfg)
    if blocking:
        common["socket_timeout"] = None
        common["max_connections"] = BLOCKING_CONNECTIONS
    if cfg.sentinel is not None:
        manager = sentinel_manager(cfg, blocking=blocking)
        return manager.master_for(cfg.sentinel.master_name, db=cfg.database)
    if cfg.cluster is not None:
        return make_sync_cluster(cfg, common)
    if cfg.url:
        return redis.Redis.from_url(
            cfg.url,
            socket_timeout=common["socket_timeout"],
            socket_connect_timeout=common["socket_connect_timeout"],
            retry=None,
            max_connections=common.get("max_connections"),
            **_DRIVER,
        )
    host, port = split(cfg.host)
    return redis.Redis(host=host, port=port, db=cfg.database, **common, **_DRIVER)


def make_async(cfg: RedisSettings, *, blocking: bool = False) -> Any:
    """An asyncio redis-py client; ``blocking`` clients have no read timeout (BLPOP) and
    no low bound on their connections (each blocked command holds one: many
    ``AsyncClient.wait`` calls at once)."""
    common = _common(cfg)
    if blocking:
        common["socket_timeout"] = None
        common["max_connections"] = BLOCKING_CONNECTIONS
    if cfg.sentinel is not None:
        manager = sentinel_manager(cfg, asyncio=True, blocking=blocking)
        return manager.master_for(cfg.sentinel.master_name, db=cfg.database)
    if cfg.cluster is not None:
        return make_async_cluster(cfg, common)
    if cfg.url:
        pool = aredis.ConnectionPool.from_url(
            cfg.url,
            socket_timeout=common["socket_timeout"],
            socket_connect_timeout=common["socket_connect_timeout"],
            max_connections=common.get("max_connections"),
        )
        if pool.connection_class is aredis.Connection:
            pool.connection_class = FastPackConnection
        return aredis.Redis.from_pool(pool)
    host, port = split(cfg.host)
    pool = aredis.ConnectionPool(
        host=host, port=port, db=cfg.database, connection_class=FastPackConnection, **common
    )
    return aredis.Redis.from_pool(pool)

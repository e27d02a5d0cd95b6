"""Redis connections from the ``redis`` settings: plain, URL, Sentinel or Cluster."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import redis
import redis.exceptions as rexc

from ..errors import ServiceUnavailable

if TYPE_CHECKING:
    from ..config.settings import RedisSettings

#: Errors that mean Redis is not reachable right now.
CONNECTION_ERRORS = (rexc.ConnectionError, rexc.TimeoutError, OSError)
HINT = "start redis-server there or set redis.host / BINGO_REDIS__HOST"

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


def _split(hostport: str) -> tuple[str, int]:
    host, _, port = hostport.rpartition(":")
    if not host:
        return hostport, 6379
    return host, int(port)


def _common(cfg: RedisSettings) -> dict[str, Any]:
    return {
        "password": cfg.password or None,
        "username": cfg.username or None,
        "socket_timeout": cfg.socket_timeout or None,
        "socket_connect_timeout": cfg.connect_timeout or None,
    }


def make_sync(cfg: RedisSettings) -> Any:
    """A synchronous redis-py client for the settings."""
    common = _common(cfg)
    if cfg.sentinel is not None:
        from redis.sentinel import Sentinel

        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            [_split(h) for h in cfg.sentinel.hosts],
            sentinel_kwargs={"password": cfg.sentinel.password or None},
            **common,
        )
        return sentinel.master_for(cfg.sentinel.master_name, db=cfg.database)  # type: ignore[no-untyped-call]
    if cfg.cluster:
        from redis.cluster import RedisCluster

        host, port = _split(cfg.host)
        return RedisCluster(host=host, port=port, **common)
    if cfg.url:
        return redis.Redis.from_url(
            cfg.url,
            socket_timeout=common["socket_timeout"],
            socket_connect_timeout=common["socket_connect_timeout"],
        )
    host, port = _split(cfg.host)
    return redis.Redis(host=host, port=port, db=cfg.database, **common)


def make_async(cfg: RedisSettings, *, blocking: bool = False) -> Any:
    """An asyncio redis-py client; ``blocking`` clients have no read timeout (BLPOP)."""
    import redis.asyncio as aredis

    common = _common(cfg)
    if blocking:
        common["socket_timeout"] = None
    if cfg.sentinel is not None:
        from redis.asyncio.sentinel import Sentinel as AsyncSentinel

        sentinel = AsyncSentinel(  # type: ignore[no-untyped-call]
            [_split(h) for h in cfg.sentinel.hosts],
            sentinel_kwargs={"password": cfg.sentinel.password or None},
            **common,
        )
        return sentinel.master_for(cfg.sentinel.master_name, db=cfg.database)
    if cfg.cluster:
        from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster

        host, port = _split(cfg.host)
        return AsyncRedisCluster(host=host, port=port, **common)
    if cfg.url:
        pool = aredis.ConnectionPool.from_url(
            cfg.url,
            socket_timeout=common["socket_timeout"],
            socket_connect_timeout=common["socket_connect_timeout"],
        )
        if pool.connection_class is aredis.Connection:
            pool.connection_class = fast_pack_connection()
        return aredis.Redis.from_pool(pool)
    host, port = _split(cfg.host)
    pool = aredis.ConnectionPool(
        host=host, port=port, db=cfg.database, connection_class=fast_pack_connection(), **common
    )
    return aredis.Redis.from_pool(pool)


def unavailable(cfg: RedisSettings, exc: BaseException) -> ServiceUnavailable:
    """The one-line error for a Redis that does not answer."""
    reason = str(exc).strip() or type(exc).__name__
    return ServiceUnavailable("Redis", cfg.address, reason, HINT)

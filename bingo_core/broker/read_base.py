"""What every read of the broker's read side shares: the connection, the pipeline and
decoding of raw Redis values."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import tzinfo
from typing import TYPE_CHECKING, Any

import redis.exceptions as rexc

from ..errors import MalformedKey
from . import connection
from .connection import CONNECTION_ERRORS
from .keys import AsynqKeys, Keys, QueueKeys

if TYPE_CHECKING:
    from ..config.settings import RedisSettings


def text(value: Any) -> str:
    """A Redis value as text (bytes decoded, bad UTF-8 replaced)."""
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def number(value: Any) -> float | None:
    """A stored number, or None when absent, empty or not a finite number."""
    if value is None or value in (b"", ""):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def integer(value: Any) -> int:
    """A stored count (0 when absent or not a number)."""
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def json_object(raw: Any) -> dict[str, Any] | None:
    """A stored JSON object, or None (absent, not JSON, not an object)."""
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


class ReadBase:
    """Read-only access to Bingo's keys through a synchronous redis-py client."""

    def __init__(
        self,
        cfg: RedisSettings,
        client: Any,
        zone: tzinfo | None = None,
        asynq_queues: Iterable[str] = (),
        asynq_client: Any = None,
        asynq_cfg: RedisSettings | None = None,
    ) -> None:
        self.cfg = cfg
        self.redis = client
        self.keys = Keys(cfg.prefix)
        #: The zone whose dates name the daily counters (the server's; UTC when None).
        self.zone = zone
        #: The queues of ``asynq.queues``: their tasks are in Asynq's layout.
        self.asynq_queues = frozenset(asynq_queues)
        self._asynq = AsynqKeys()
        #: The Redis of those queues (``asynq.redis``), else the same client.
        self.asynq_redis = client if asynq_client is None else asynq_client
        self.asynq_cfg = cfg if asynq_cfg is None else asynq_cfg

    def q(self, queue: str) -> QueueKeys:
        """The keys of ``queue`` (Bingo's: its statistics, cancels)."""
        return self.keys.queue(queue)

    def tasks_at(self, queue: str) -> QueueKeys:
        """The keys that hold the tasks and counters of ``queue``: Asynq's for a queue of
        ``asynq.queues`` (named alike but for the ``asynq:`` prefix), else Bingo's."""
        if queue in self.asynq_queues:
            return self._asynq.queue(queue)
        return self.keys.queue(queue)

    def day_zone(self, queue: str) -> tzinfo | None:
        """The zone dating the daily counters of ``queue`` (Asynq's: UTC, None)."""
        return None if queue in self.asynq_queues else self.zone

    def _run(self, pipe: Any, what: str = "") -> list[Any]:
        """Run ``pipe``; a key of the wrong type is :class:`MalformedKey` naming ``what``."""
        try:
            return list(pipe.execute())
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self._cfg_of(pipe), exc) from None
        except rexc.ResponseError as exc:
            raise MalformedKey(f"{what or 'a key'}: {exc}") from None

    def _run_each(self, pipe: Any) -> list[Any]:
        """Run ``pipe``, each failed command's error in its place."""
        try:
            return list(pipe.execute(raise_on_error=False))
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self._cfg_of(pipe), exc) from None

    def _pipe(self) -> Any:
        return self.redis.pipeline(transaction=False)

    def _pipe_for(self, queue: str) -> Any:
        """A pipeline on the Redis that holds the tasks of ``queue``."""
        if queue in self.asynq_queues:
            return self.asynq_redis.pipeline(transaction=False)
        return self.redis.pipeline(transaction=False)

    def _asynq_pipe(self) -> Any:
        return self.asynq_redis.pipeline(transaction=False)

    def _cfg_of(self, pipe: Any) -> RedisSettings:
        """The settings of the Redis a pipeline runs on (for the one-line error)."""
        theirs = getattr(self.asynq_redis, "connection_pool", None)
        if self.asynq_redis is not self.redis and getattr(pipe, "connection_pool", 0) is theirs:
            return self.asynq_cfg
        return self.cfg

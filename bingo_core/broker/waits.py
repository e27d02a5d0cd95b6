"""Waiting for a task to end, without polling (``Client.wait``, ``tasks wait``).

``wait_begin.lua`` reads where a task stands and, when it has not ended, counts one more
waiter in its hash, in one step; the scripts that end a task (``lua/_wake.lua``) push one
token per counted waiter to ``P:{q}:wake:<id>``, on which each waiter blocks with
``BLPOP`` (no CPU while it waits, on the client or in Redis). A token only says "look
again": the state in the task hash is the truth, so a stale or extra token costs one
round trip, never a wrong answer. A waiter's commands use a client of their own, with
no read timeout and no low bound on its connections, since each blocked waiter holds one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis.exceptions as rexc

from ..errors import MalformedKey
from . import connection, scripts
from .base import _s
from .connection import CONNECTION_ERRORS

if TYPE_CHECKING:
    from .async_broker import AsyncBroker
    from .broker import Broker

#: Longest single BLPOP: a waiter looks at the task again at least this often (seconds),
#: so a token lost with a failed-over primary or a deleted queue delays it, never hangs it.
GUARD = 30.0


@dataclass(frozen=True, slots=True)
class Stand:
    """Where a task stands for a waiter: ``state`` "completed", "archived", "waiting"
    (counted: a token comes when it ends) or "gone" (no task hash: ``result`` is then the
    newest token a waited-for end left, "c" completed without a kept result, "d" deleted,
    or "")."""

    state: str
    result: str
    error: str


def _stand(reply: Any) -> Stand:
    state, result, error = (_s(v) for v in reply)
    return Stand(state, result, error)


def _malformed(exc: Exception) -> Exception:
    """A key of the wrong type, named by the script; any other refusal as it came."""
    if "WRONGTYPE" in str(exc):
        return MalformedKey(str(exc).removeprefix("WRONGTYPE "))
    return exc


def _popped(reply: Any) -> str:
    return "" if reply is None else _s(reply[1])


def _seconds(timeout: float) -> float:
    return max(0.01, round(min(timeout, GUARD), 3))


class Waits:
    """The synchronous side (``Client.wait``); safe to share between threads."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self._blocking: Any = None
        self._script: Any = None
        self._lock = threading.Lock()

    def _client(self) -> Any:
        with self._lock:
            if self._blocking is None:
                self._blocking = connection.make_sync(self.broker.cfg, blocking=True)
                self._script = self._blocking.register_script(scripts.SOURCES["wait_begin"])
        return self._blocking

    def begin(self, queue: str, task_id: str) -> Stand:
        """Where the task stands; counts this waiter when it has not ended."""
        self._client()
        _, keys, args = scripts.wait_begin(self.broker.q(queue), task_id)
        try:
            return _stand(self._script(keys=keys, args=args))
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.broker.cfg, exc) from None
        except rexc.ResponseError as exc:
            raise _malformed(exc) from None

    def token(self, queue: str, task_id: str, timeout: float) -> str:
        """Block until a token for the task comes (returned) or ``timeout`` (at most
        :data:`GUARD`) passes ("")."""
        key = self.broker.q(queue).wake(task_id)
        try:
            return _popped(self._client().blpop([key], timeout=_seconds(timeout)))
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.broker.cfg, exc) from None

    def close(self) -> None:
        blocking, self._blocking = self._blocking, None
        if blocking is not None:
            blocking.close()


class AsyncWaits:
    """The asyncio side (``AsyncClient.wait``)."""

    def __init__(self, broker: AsyncBroker) -> None:
        self.broker = broker
        self._blocking: Any = None
        self._script: Any = None

    async def queues(self) -> list[str]:
        """Every queue name ever used, sorted."""
        try:
            members = await self._client().smembers(self.broker.keys.queues)
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.broker.cfg, exc) from None
        return sorted(_s(m) for m in members)

    def _client(self) -> Any:
        if self._blocking is None:
            self._blocking = connection.make_async(self.broker.cfg, blocking=True)
            self._script = self._blocking.register_script(scripts.SOURCES["wait_begin"])
        return self._blocking

    async def begin(self, queue: str, task_id: str) -> Stand:
        """Where the task stands; counts this waiter when it has not ended."""
        self._client()
        _, keys, args = scripts.wait_begin(self.broker.q(queue), task_id)
        try:
            return _stand(await self._script(keys=keys, args=args))
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.broker.cfg, exc) from None
        except rexc.ResponseError as exc:
            raise _malformed(exc) from None

    async def token(self, queue: str, task_id: str, timeout: float) -> str:
        """Block until a token for the task comes (returned) or ``timeout`` (at most
        :data:`GUARD`) passes ("")."""
        key = self.broker.q(queue).wake(task_id)
        try:
            return _popped(await self._client().blpop([key], timeout=_seconds(timeout)))
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.broker.cfg, exc) from None

    async def close(self) -> None:
        blocking, self._blocking = self._blocking, None
        if blocking is not None:
            await blocking.aclose()

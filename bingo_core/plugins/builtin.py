"""Bingo's built-in hook implementations, registered like any plugin's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from .marker import hookimpl

if TYPE_CHECKING:
    from ..broker import AsyncBroker
    from ..config import Settings
    from ..message import TaskInfo


class _AppLike(Protocol):
    """What the built-in plugins use of :class:`~bingo_core.app.App`."""

    @property
    def settings(self) -> Settings: ...

    def async_broker(self) -> AsyncBroker: ...


class RedisIdempotency:
    """Default ``bingo_idempotency_*``: done-markers in Redis with a TTL
    (``worker.idempotencyTtl``), through the app's asyncio broker.

    Registered ``trylast`` so any plugin's own implementation answers first.
    """

    NAME = "bingo.idempotency"

    def __init__(self, app: _AppLike) -> None:
        self.app = app

    @hookimpl(trylast=True)
    def bingo_idempotency_check(self, task: TaskInfo) -> Any:
        return self.app.async_broker().is_done(task.queue, task.id)

    @hookimpl(trylast=True)
    def bingo_idempotency_mark(self, task: TaskInfo) -> Any:
        async def mark() -> bool:
            ttl = self.app.settings.worker.idempotency_ttl
            await self.app.async_broker().mark_done(task.queue, task.id, ttl)
            return True

        return mark()

"""Bingo's built-in hook implementations, registered like any plugin's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .manager import hookimpl

if TYPE_CHECKING:
    from ..app import App
    from ..message import TaskInfo


class RedisIdempotency:
    """Default ``bingo_idempotency_*``: done-markers in Redis with a TTL
    (``worker.idempotencyTtl``), through the app's asyncio broker.

    Registered ``trylast`` so any plugin's own implementation answers first.
    """

    NAME = "bingo.idempotency"

    def __init__(self, app: App) -> None:
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

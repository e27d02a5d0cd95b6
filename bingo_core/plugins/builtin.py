"""Bingo's built-in hook implementations, registered like any plugin's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .manager import hookimpl

if TYPE_CHECKING:
    from ..broker import AsyncBroker
    from ..message import TaskInfo


class RedisIdempotency:
    """Default ``bingo_idempotency_*``: done-markers ``P:{q}:done:<id>`` in Redis with a TTL.

    Registered ``trylast`` so any plugin's own implementation answers first.
    """

    def __init__(self, broker: AsyncBroker, ttl: float) -> None:
        self.broker = broker
        self.ttl = ttl

    @hookimpl(trylast=True)
    def bingo_idempotency_check(self, task: TaskInfo) -> Any:
        return self.broker.is_done(task.queue, task.id)

    @hookimpl(trylast=True)
    def bingo_idempotency_mark(self, task: TaskInfo) -> Any:
        async def mark() -> bool:
            await self.broker.mark_done(task.queue, task.id, self.ttl)
            return True

        return mark()

"""The worker's side of a queue in Asynq's layout: lease, ack, retry, archive, requeue,
find expired leases, extend leases (asyncio). One method per script of
:mod:`.asynq_scripts`, each decoding its own reply."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ..asynq.servers import ServerRecord
from ..records import FetchResult, Leased
from . import asynq_scripts as s
from .base import _s
from .keys import AsynqKeys, AsynqQueueKeys
from .scripts import Call, today


class AsynqOps:
    """What the worker runs against the queues of ``asynq.queues``: ``redis`` is the
    asyncio client of their Redis, ``run`` runs a script call there."""

    def __init__(self, redis: Any, run: Callable[[Call], Awaitable[Any]]) -> None:
        self.redis = redis
        self.run = run
        self.keys = AsynqKeys()

    def q(self, queue: str) -> AsynqQueueKeys:
        return self.keys.queue(queue)

    async def fetch(self, queue: str, n: int) -> FetchResult:
        """Forward due tasks, then lease up to ``n`` (Asynq's 30 s lease)."""
        now = time.time()
        call = s.fetch(self.q(queue), n, now, time.time_ns(), int(now) + s.LEASE)
        out = await self.run(call)
        due = float(out[0]) if out[0] not in (b"", "") else None
        leased: list[Leased] = []
        unusable: list[tuple[str, str]] = []
        items = out[2:]
        for i in range(0, len(items), 3):
            task_id, value = _s(items[i]), items[i + 1]
            if int(items[i + 2]) > 0:
                leased.append(Leased(task_id, value, 0))
            else:
                unusable.append((task_id, _s(value)))
        return FetchResult(leased, unusable, due, paused=bool(int(out[1])))

    async def ack(self, queue: str, items: Sequence[s.AsynqAck]) -> list[str]:
        """Record successes; returns the ids that were lost (recovered by another)."""
        call = s.ack(self.q(queue), items, time.time(), today(None))
        return [_s(x) for x in await self.run(call)]

    async def fail(
        self,
        queue: str,
        task_id: str,
        msg: bytes,
        *,
        retry_at: float | None,
        counted: bool = True,
    ) -> bool:
        """Move a failed task to ``retry`` (at ``retry_at``) or, when None, to
        ``archived``; ``msg`` is the rewritten message (b"" keeps the stored one).
        Returns False when the task was lost."""
        now = time.time()
        at = int(now if retry_at is None else retry_at)
        call = s.fail(self.q(queue), task_id, msg, at, retry_at is None, counted, now, today(None))
        return bool(await self.run(call))

    async def requeue(self, queue: str, ids: Sequence[str]) -> int:
        return int(await self.run(s.requeue(self.q(queue), ids)))

    async def expired(self, queue: str, limit: int = 200) -> tuple[int, list[Leased]]:
        """Delete completed tasks past their retention; return how many, and the tasks
        whose lease expired (a crashed server's, Go's or Bingo's)."""
        out = await self.run(s.expired(self.q(queue), time.time(), limit))
        items = out[1:]
        found = [Leased(_s(items[i]), items[i + 1], 0) for i in range(0, len(items), 2)]
        return int(out[0]), found

    async def extend_leases(self, held: dict[str, list[str]], until: float) -> None:
        """Push the leases of held tasks (queue -> ids) to ``until`` (``ZADD XX``)."""
        pipe = self.redis.pipeline(transaction=False)
        for queue, ids in held.items():
            if ids:
                pipe.zadd(self.q(queue).lease, dict.fromkeys(ids, int(until)), xx=True)
        await pipe.execute()

    async def announce(self, record: ServerRecord, ttl: int) -> None:
        """Publish a worker as Asynq's Inspector lists servers (as Go's heartbeat does:
        the records live ``ttl`` seconds, their zset scores say until when)."""
        name = record.name
        server, workers = self.keys.server(name), self.keys.worker(name)
        until = int(time.time()) + ttl
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(self.keys.servers, {server: until})
        pipe.setex(server, ttl, record.server_info())
        pipe.zadd(self.keys.workers, {workers: until})
        pipe.delete(workers)
        if record.running:
            pipe.hset(workers, mapping={t.task_id: record.worker_info(t) for t in record.running})
            pipe.expire(workers, ttl)
        await pipe.execute()

    async def withdraw(self, name: str) -> None:
        """Remove a server's records (a clean stop)."""
        server, workers = self.keys.server(name), self.keys.worker(name)
        pipe = self.redis.pipeline(transaction=False)
        pipe.zrem(self.keys.servers, server)
        pipe.zrem(self.keys.workers, workers)
        pipe.delete(server)
        pipe.delete(workers)
        await pipe.execute()

"""The Redis data layer: the only code that talks to Redis.

:class:`Broker` (synchronous) serves the client, the CLI and the inspector;
:class:`AsyncBroker` serves the worker and the scheduler. Every state change of a task is
one Lua script (see :mod:`.scripts`); reads are plain commands, pipelined.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import redis
import redis.exceptions as rexc

from ..errors import DuplicateTaskError, TaskNotFound, UniqueTaskError, UsageError
from ..message import TaskInfo
from . import connection, scripts
from .keys import Keys, QueueKeys
from .scripts import Call, Prepared

if TYPE_CHECKING:
    from ..config.settings import RedisSettings

#: Errors that mean Redis is not reachable right now.
CONNECTION_ERRORS = (rexc.ConnectionError, rexc.TimeoutError, OSError)
STATES = ("pending", "active", "scheduled", "retry", "archived", "completed")
ENQUEUE_REFUSALS = {
    0: "a task with this id already exists",
    -1: "an identical task holds the unique lock",
    -2: "this scheduler tick was already enqueued",
}


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def refusal(code: int, prepared: Prepared) -> UsageError:
    """The error for an enqueue script code other than 1."""
    if code == 0:
        return DuplicateTaskError(
            f"task id {prepared.id!r} already exists in queue {prepared.queue!r}"
        )
    return UniqueTaskError(
        f"task refused: {ENQUEUE_REFUSALS.get(code, f'code {code}')} in queue {prepared.queue!r}"
    )


class _Base:
    def __init__(self, cfg: RedisSettings, client: Any) -> None:
        self.cfg = cfg
        self.keys = Keys(cfg.prefix)
        self.redis = client
        self._scripts = {name: client.register_script(src) for name, src in scripts.SOURCES.items()}
        self._known_queues: set[str] = set()

    def q(self, queue: str) -> QueueKeys:
        return self.keys.queue(queue)

    def _enqueue_calls(
        self, tasks: Sequence[Prepared]
    ) -> tuple[list[tuple[list[int], Call]], list[str]]:
        """Group tasks per queue, in chunks; also the queues not yet in ``P:queues``."""
        by_queue: dict[str, list[int]] = {}
        for i, t in enumerate(tasks):
            by_queue.setdefault(t.queue, []).append(i)
        now = time.time()
        calls = []
        for queue, idx in by_queue.items():
            q = self.q(queue)
            for start in range(0, len(idx), scripts.CHUNK):
                part = idx[start : start + scripts.CHUNK]
                calls.append((part, scripts.enqueue(q, [tasks[i] for i in part], now)))
        return calls, [q for q in by_queue if q not in self._known_queues]

    @staticmethod
    def _codes(n: int, calls: list[tuple[list[int], Call]], results: list[Any]) -> list[int]:
        codes = [0] * n
        for (idx, call), result in zip(calls, results, strict=True):
            for i, code in zip(idx, scripts.enqueue_codes(call, result), strict=True):
                codes[i] = code
        return codes


class Broker(_Base):
    """Synchronous broker (client, CLI, inspector)."""

    def __init__(self, cfg: RedisSettings, client: Any | None = None) -> None:
        super().__init__(cfg, client if client is not None else connection.make_sync(cfg))
        self._stream_shas: dict[str, str] | None = None

    def _call(self, call: Call) -> Any:
        name, keys, args = call
        try:
            return self._scripts[name](keys=keys, args=args)
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.cfg, exc) from None

    def ping(self) -> None:
        """Raise :class:`ServiceUnavailable` (one line) when Redis does not answer."""
        try:
            self.redis.ping()
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.cfg, exc) from None
        except rexc.ResponseError as exc:  # e.g. wrong password
            raise connection.unavailable(self.cfg, exc) from None

    def close(self) -> None:
        self.redis.close()

    # -- enqueue --------------------------------------------------------------------------
    def enqueue(self, tasks: Sequence[Prepared]) -> list[int]:
        """Enqueue tasks: one script call per queue (per 1,000 tasks), all in one round trip.

        Returns one code per task (1 enqueued; see ``ENQUEUE_REFUSALS`` for the others).
        """
        calls, new = self._enqueue_calls(tasks)
        try:
            if len(calls) == 1 and not new:
                _, (name, keys, args) = calls[0]
                results = [self._scripts[name](keys=keys, args=args)]
            else:
                pipe = self.redis.pipeline(transaction=False)
                if new:
                    pipe.sadd(self.keys.queues, *new)
                for _, (name, keys, args) in calls:
                    self._scripts[name](keys=keys, args=args, client=pipe)
                results = pipe.execute()[1 if new else 0 :]
                self._known_queues.update(new)
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.cfg, exc) from None
        return self._codes(len(tasks), calls, results)

    def enqueue_stream(self, chunks: Iterable[Sequence[Prepared]]) -> list[int]:
        """Enqueue chunks as they are produced, reading the replies at the end.

        Redis runs chunk *i* while the caller encodes chunk *i + 1*. On a plain (not
        Sentinel or Cluster) connection the commands are written straight to one socket;
        otherwise each chunk goes through :meth:`enqueue`.
        """
        if type(self.redis) is not redis.Redis:
            return [code for chunk in chunks for code in self.enqueue(chunk)]
        pool = self.redis.connection_pool
        conn = pool.get_connection()
        sent: list[tuple[list[Prepared], Call]] = []
        codes: list[int] = []
        try:
            shas = self._ensure_loaded()
            for chunk in chunks:
                chunk = list(chunk)
                for queue in {t.queue for t in chunk} - self._known_queues:
                    self.redis.sadd(self.keys.queues, queue)
                    self._known_queues.add(queue)
                calls, _ = self._enqueue_calls(chunk)
                for idx, call in calls:
                    name, keys, args = call
                    conn.send_command(  # type: ignore[no-untyped-call]
                        "EVALSHA", shas[name], len(keys), *keys, *args
                    )
                    sent.append(([chunk[i] for i in idx], call))
            replies = []
            for _ in sent:
                try:
                    replies.append(conn.read_response())
                except rexc.NoScriptError:
                    replies.append(None)
        except CONNECTION_ERRORS as exc:
            conn.disconnect()  # type: ignore[no-untyped-call]
            raise connection.unavailable(self.cfg, exc) from None
        finally:
            pool.release(conn)
        for (tasks, call), reply in zip(sent, replies, strict=True):
            if reply is None:  # the script cache was flushed meanwhile: run it normally
                self._stream_shas = None
                codes += self.enqueue(tasks)
            else:
                codes += scripts.enqueue_codes(call, reply)
        return codes

    def _ensure_loaded(self) -> dict[str, str]:
        """Load the enqueue scripts once per broker; a flushed script cache is caught by
        the NOSCRIPT fallback of :meth:`enqueue_stream`."""
        if self._stream_shas is None:
            shas = {}
            for name in ("enqueue", "enqueue_fast"):
                script = self._scripts[name]
                shas[name] = self.redis.script_load(script.script)
            self._stream_shas = shas
        return self._stream_shas

    # -- inspector reads and actions --------------------------------------------------------
    def queues(self) -> list[str]:
        try:
            return sorted(_s(q) for q in self.redis.smembers(self.keys.queues))
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.cfg, exc) from None

    def queue_stats(self, queue: str) -> dict[str, Any]:
        """Counts per state, totals and today's counters, paused flag."""
        q = self.q(queue)
        day = scripts.today()
        pipe = self.redis.pipeline(transaction=False)
        pipe.llen(q.pending)
        for state in STATES[1:]:
            pipe.zcard(q.by_state(state))
        pipe.mget(q.processed, q.failed, q.processed_on(day), q.failed_on(day))
        pipe.exists(q.paused)
        pipe.lindex(q.pending, -1)
        try:
            res = pipe.execute()
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.cfg, exc) from None
        counts = dict(zip(STATES, (int(x) for x in res[:6]), strict=True))
        processed, failed, p_day, f_day = (int(x or 0) for x in res[6])
        latency = 0.0
        oldest = res[8]
        if oldest is not None:
            info = self.get_task(queue, _s(oldest), missing_ok=True)
            if info is not None and info.enqueued_at:
                latency = max(0.0, time.time() - info.enqueued_at)
        return {
            "queue": queue,
            **counts,
            "size": sum(counts.values()) - counts["completed"],
            "processed": processed,
            "failed": failed,
            "processed_today": p_day,
            "failed_today": f_day,
            "paused": bool(res[7]),
            "latency": latency,
        }

    def list_ids(self, queue: str, state: str, offset: int = 0, limit: int = 50) -> list[str]:
        q = self.q(queue)
        try:
            if state == "pending":  # head (oldest) first
                ids = self.redis.lrange(q.pending, -(offset + limit), -(offset + 1))[::-1]
            else:
                ids = self.redis.zrange(q.by_state(state), offset, offset + limit - 1)
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.cfg, exc) from None
        return [_s(i) for i in ids]

    def get_tasks(self, queue: str, ids: Sequence[str]) -> list[TaskInfo]:
        q = self.q(queue)
        pipe = self.redis.pipeline(transaction=False)
        for task_id in ids:
            pipe.hgetall(q.task(task_id))
        try:
            rows = pipe.execute()
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.cfg, exc) from None
        return [TaskInfo.from_hash(queue, i, r) for i, r in zip(ids, rows, strict=True) if r]

    def get_task(self, queue: str, task_id: str, *, missing_ok: bool = False) -> TaskInfo | None:
        found = self.get_tasks(queue, [task_id])
        if not found:
            if missing_ok:
                return None
            raise TaskNotFound(f"no task {task_id!r} in queue {queue!r}")
        return found[0]

    def task_move(self, queue: str, task_id: str, action: str) -> int:
        return int(self._call(scripts.task_move(self.q(queue), task_id, action, time.time())))

    def set_paused(self, queue: str, paused: bool) -> None:
        try:
            if paused:
                self.redis.set(self.q(queue).paused, str(time.time()))
            else:
                self.redis.delete(self.q(queue).paused)
                self.redis.rpush(self.q(queue).notify, "1")
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.cfg, exc) from None

    def servers(self) -> list[dict[str, Any]]:
        import json

        try:
            now = time.time()
            self.redis.zremrangebyscore(self.keys.servers, "-inf", now)
            ids = [_s(i) for i in self.redis.zrange(self.keys.servers, 0, -1)]
            raw = self.redis.mget([self.keys.server(i) for i in ids]) if ids else []
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.cfg, exc) from None
        return [json.loads(r) for r in raw if r]


class AsyncBroker(_Base):
    """asyncio broker (worker, scheduler)."""

    def __init__(self, cfg: RedisSettings, client: Any | None = None) -> None:
        super().__init__(cfg, client if client is not None else connection.make_async(cfg))
        self._blocking: Any = None

    async def _call(self, call: Call) -> Any:
        name, keys, args = call
        return await self._scripts[name](keys=keys, args=args)

    async def ping(self) -> None:
        try:
            await self.redis.ping()
        except (*CONNECTION_ERRORS, rexc.ResponseError) as exc:
            raise connection.unavailable(self.cfg, exc) from None

    async def close(self) -> None:
        await self.redis.aclose()
        if self._blocking is not None:
            await self._blocking.aclose()

    async def enqueue(self, tasks: Sequence[Prepared]) -> list[int]:
        """Enqueue tasks in one round trip; one code per task (see :meth:`Broker.enqueue`)."""
        calls, new = self._enqueue_calls(tasks)
        pipe = self.redis.pipeline(transaction=False)
        if new:
            pipe.sadd(self.keys.queues, *new)
        for _, (name, keys, args) in calls:
            await self._scripts[name](keys=keys, args=args, client=pipe)
        results = (await pipe.execute())[1 if new else 0 :]
        self._known_queues.update(new)
        return self._codes(len(tasks), calls, results)

    async def register_queues(self, queues: Iterable[str]) -> None:
        new = [q for q in queues if q not in self._known_queues]
        if new:
            await self.redis.sadd(self.keys.queues, *new)
            self._known_queues.update(new)

    async def fetch(
        self, queue: str, n: int, lease_until: float, worker: str
    ) -> tuple[str, list[Any]]:
        """Lease up to ``n`` tasks: ``(next_due or "paused" or "", [id, msg, retried, ...])``."""
        out = await self._call(scripts.fetch(self.q(queue), n, time.time(), lease_until, worker))
        return _s(out[0]), out[1:]

    async def ack(self, queue: str, items: list[tuple[str, float, str]], worker: str) -> list[str]:
        lost = await self._call(scripts.ack(self.q(queue), items, worker, time.time()))
        return [_s(x) for x in lost]

    async def retry(self, queue: str, task_id: str, worker: str, at: float, error: str) -> bool:
        call = scripts.retry(self.q(queue), task_id, worker, at, error, time.time())
        return bool(await self._call(call))

    async def archive(
        self, queue: str, task_id: str, worker: str, error: str, max_size: int, max_age: float
    ) -> bool:
        call = scripts.archive(
            self.q(queue), task_id, worker, error, time.time(), max_size, max_age
        )
        return bool(await self._call(call))

    async def requeue(self, queue: str, ids: Sequence[str], worker: str) -> int:
        return int(await self._call(scripts.requeue(self.q(queue), ids, worker)))

    async def recover(self, queue: str, error: str, limit: int = 200) -> list[int]:
        res = await self._call(scripts.recover(self.q(queue), time.time(), limit, error))
        return [int(x) for x in res]

    async def extend_leases(self, active: dict[str, list[str]], until: float) -> None:
        """Push the lease expiry of held tasks (queue -> ids) to ``until``; one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for queue, ids in active.items():
            if ids:
                pipe.zadd(self.q(queue).lease, dict.fromkeys(ids, until), xx=True)
        await pipe.execute()

    async def wait_for_work(self, queues: Sequence[str], timeout: float) -> bool:
        """Block until a wake-up token arrives on one of ``queues`` (or ``timeout``)."""
        if self._blocking is None:
            self._blocking = connection.make_async(self.cfg, blocking=True)
        keys = [self.q(q).notify for q in queues]
        res = await self._blocking.blpop(keys, timeout=max(0.01, round(timeout, 3)))
        return res is not None

    async def heartbeat(self, server_id: str, info: str, ttl: float) -> None:
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(self.keys.servers, {server_id: now + ttl})
        pipe.set(self.keys.server(server_id), info, px=int(ttl * 1000))
        await pipe.execute()

    async def remove_server(self, server_id: str) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.zrem(self.keys.servers, server_id)
        pipe.delete(self.keys.server(server_id))
        await pipe.execute()

    async def is_done(self, queue: str, task_id: str) -> bool:
        return bool(await self.redis.exists(self.q(queue).done(task_id)))

    async def mark_done(self, queue: str, task_id: str, ttl: float) -> None:
        await self.redis.set(self.q(queue).done(task_id), "1", px=max(1, int(ttl * 1000)))


__all__ = ["CONNECTION_ERRORS", "AsyncBroker", "Broker", "Prepared", "redis", "refusal"]

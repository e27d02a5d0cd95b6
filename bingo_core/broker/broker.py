"""The Redis data layer's write side: the only code that changes Redis.

:class:`Broker` (synchronous) serves the client and the inspector's actions;
:class:`AsyncBroker` serves the worker and the scheduler. Every state change of a task is
one Lua script (see :mod:`.scripts`); the reads are in :mod:`.reader`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from datetime import tzinfo
from typing import TYPE_CHECKING, Any

import redis
import redis.exceptions as rexc

from ..errors import DuplicateTaskError, MalformedKey, UniqueTaskError, UsageError
from . import connection, scripts
from .connection import CONNECTION_ERRORS
from .keys import Keys, QueueKeys
from .reader import STATES, Reader
from .scripts import AckItem, Call, EnqueueCode, Prepared

if TYPE_CHECKING:
    from ..config.settings import RedisSettings
    from .cluster import NotifyWaiter
    from .topology import Topology

ENQUEUE_REFUSALS = {
    scripts.EXISTS: "a task with this id already exists",
    scripts.UNIQUE_HELD: "an identical task holds the unique lock",
}


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def refusal(code: EnqueueCode, prepared: Prepared) -> UsageError:
    """The error for an enqueue script code other than 1."""
    if code == scripts.EXISTS:
        return DuplicateTaskError(
            f"task id {prepared.id!r} already exists in queue {prepared.queue!r}"
        )
    if isinstance(code, str):
        return UniqueTaskError(
            f"task refused: this scheduler tick was already enqueued as task {code} "
            f"in queue {prepared.queue!r}"
        )
    return UniqueTaskError(
        f"task refused: {ENQUEUE_REFUSALS.get(code, f'code {code}')} in queue {prepared.queue!r}"
    )


class _Base:
    def __init__(self, cfg: RedisSettings, client: Any, zone: tzinfo | None = None) -> None:
        self.cfg = cfg
        #: The zone whose dates name the daily counters (the server's; UTC when None).
        self.zone = zone
        self.keys = Keys(cfg.prefix)
        self.redis = client
        self._scripts = {name: client.register_script(src) for name, src in scripts.SOURCES.items()}
        # Queues this broker added to P:queues lately; forgotten every second, so a queue
        # another process deleted (or a Redis that lost its data) is listed again.
        self._known_queues: set[str] = set()
        self._known_until = 0.0

    def q(self, queue: str) -> QueueKeys:
        return self.keys.queue(queue)

    def _recall_queues(self, now: float) -> set[str]:
        if now >= self._known_until:
            self._known_queues.clear()
            self._known_until = now + 1.0
        return self._known_queues

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
        known = self._recall_queues(now)
        return calls, [q for q in by_queue if q not in known]

    @staticmethod
    def _codes(
        n: int, calls: list[tuple[list[int], Call]], results: list[Any]
    ) -> list[EnqueueCode]:
        codes: list[EnqueueCode] = [0] * n
        for (idx, call), result in zip(calls, results, strict=True):
            for i, code in zip(idx, scripts.enqueue_codes(call, result), strict=True):
                codes[i] = code
        return codes


class Broker(_Base):
    """Synchronous broker (client, CLI, inspector)."""

    def __init__(
        self, cfg: RedisSettings, client: Any | None = None, *, zone: tzinfo | None = None
    ) -> None:
        super().__init__(cfg, client if client is not None else connection.make_sync(cfg), zone)
        self._stream_shas: dict[str, str] | None = None
        #: The read side on the same connection pool.
        self.reader = Reader(cfg, self.redis, zone)

    def _call(self, call: Call) -> Any:
        name, keys, args = call
        try:
            return self._scripts[name](keys=keys, args=args)
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.cfg, exc) from None
        except rexc.ResponseError as exc:
            if "WRONGTYPE" in str(exc):  # a key of the wrong type: named by the script
                raise MalformedKey(str(exc).removeprefix("WRONGTYPE ")) from None
            raise

    def ping(self) -> None:
        """Raise :class:`ServiceUnavailable` (one line) when Redis does not answer."""
        try:
            self.redis.ping()
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.cfg, exc) from None
        except rexc.ResponseError as exc:  # e.g. wrong password
            raise connection.unavailable(self.cfg, exc) from None

    def topology(self) -> Topology:
        """The deployment as Redis reports it: the mode and each node (sentinels, master,
        replicas, cluster nodes with their slots), with one problem line per node down.
        Raises :class:`ServiceUnavailable` only when nothing answers."""
        from .topology import describe

        return describe(self.cfg, self.redis)

    def close(self) -> None:
        self.redis.close()

    # -- enqueue --------------------------------------------------------------------------
    def enqueue(self, tasks: Sequence[Prepared]) -> list[EnqueueCode]:
        """Enqueue tasks: one script call per queue (per :data:`~.scripts.CHUNK` tasks), all
        in one round trip.

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

    def enqueue_stream(self, chunks: Iterable[Sequence[Prepared]]) -> list[EnqueueCode]:
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
        codes: list[EnqueueCode] = []
        try:
            shas = self._ensure_loaded()
            for chunk in chunks:
                chunk = list(chunk)
                for queue in {t.queue for t in chunk} - self._recall_queues(time.time()):
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

    # -- the inspector's actions ----------------------------------------------------------
    def task_move(self, queue: str, task_id: str, action: str) -> int:
        return int(self._call(scripts.task_move(self.q(queue), task_id, action, time.time())))

    def set_paused(self, queue: str, paused: bool) -> None:
        """Pause (workers stop fetching from it) or resume a queue."""
        q = self.q(queue)
        try:
            if paused:
                self.redis.set(q.paused, str(time.time()))
            else:
                pipe = self.redis.pipeline(transaction=False)
                pipe.delete(q.paused)
                pipe.rpush(q.notify, "1")  # wake an idle worker at once
                pipe.execute()
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.cfg, exc) from None

    def delete_queue(self, queue: str, force: bool) -> int:
        """Delete a queue with its tasks, counters and locks (in batches); returns the
        number of tasks deleted, or -1 when it holds tasks and ``force`` is false."""
        total = 0
        while True:
            call = scripts.queue_delete(self.q(queue), force, 1000)
            deleted, left = (int(x) for x in self._call(call))
            if deleted < 0:
                return -1
            total += deleted
            if left == 0:
                break
        try:
            self.redis.srem(self.keys.queues, queue)
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.cfg, exc) from None
        self._known_queues.discard(queue)
        return total

    # -- the dashboard's actions ----------------------------------------------------------
    def task_move_many(self, queue: str, ids: Sequence[str], action: str) -> list[int]:
        """``action`` ("run", "archive", "delete") on many tasks of ``queue``, in calls
        of :data:`~.scripts.MOVE_CHUNK` ids; one ``task_move`` code per id."""
        codes: list[int] = []
        for start in range(0, len(ids), scripts.MOVE_CHUNK):
            part = ids[start : start + scripts.MOVE_CHUNK]
            call = scripts.task_move_many(self.q(queue), part, action, time.time())
            codes += [int(c) for c in self._call(call)]
        return codes

    def task_cancel(self, queue: str, task_id: str) -> int:
        """Ask the worker running ``task_id`` to cancel it: 1 asked, 0 no such task,
        -1 not active."""
        return int(self._call(scripts.task_cancel(self.q(queue), task_id, time.time())))


class AsyncBroker(_Base):
    """asyncio broker (worker, scheduler)."""

    def __init__(
        self, cfg: RedisSettings, client: Any | None = None, *, zone: tzinfo | None = None
    ) -> None:
        super().__init__(cfg, client if client is not None else connection.make_async(cfg), zone)
        self._blocking: Any = None
        self._waiter: NotifyWaiter | None = None

    async def run(self, call: Call) -> Any:
        """Run one script call built by :mod:`.scripts`."""
        name, keys, args = call
        return await self._scripts[name](keys=keys, args=args)

    async def ping(self) -> None:
        """Raise :class:`ServiceUnavailable` (one line) when Redis does not answer."""
        try:
            await self.redis.ping()
        except (*CONNECTION_ERRORS, rexc.ResponseError) as exc:
            raise connection.unavailable(self.cfg, exc) from None

    async def close(self) -> None:
        await self.redis.aclose()
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            await waiter.cancel()
        blocking, self._blocking = self._blocking, None
        if blocking is not None:
            await blocking.aclose()

    async def enqueue(self, tasks: Sequence[Prepared]) -> list[EnqueueCode]:
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

    async def record_stats(
        self, by_queue: dict[str, list[tuple[str, int, int, float, float, list[int]]]]
    ) -> None:
        """Add per type figures to each queue's daily and total statistics."""
        day = scripts.today(self.zone)
        pipe = self.redis.pipeline(transaction=False)
        for queue, rows in by_queue.items():
            name, keys, args = scripts.stats_record(self.q(queue), day, rows)
            await self._scripts[name](keys=keys, args=args, client=pipe)
        await pipe.execute()

    async def register_queues(self, queues: Iterable[str]) -> None:
        known = self._recall_queues(time.time())
        new = [q for q in queues if q not in known]
        if new:
            await self.redis.sadd(self.keys.queues, *new)
            self._known_queues.update(new)

    async def fetch(
        self, queue: str, n: int, lease_until: float, worker: str
    ) -> tuple[str, list[Any]]:
        """Lease up to ``n`` tasks: ``(next_due or "paused" or "", [id, msg, retried, ...])``."""
        out = await self.run(scripts.fetch(self.q(queue), n, time.time(), lease_until, worker))
        return _s(out[0]), out[1:]

    async def ack(self, queue: str, items: list[AckItem], worker: str) -> list[str]:
        call = scripts.ack(self.q(queue), items, worker, time.time(), scripts.today(self.zone))
        lost = await self.run(call)
        return [_s(x) for x in lost]

    async def retry(self, queue: str, task_id: str, worker: str, at: float, error: str) -> bool:
        call = scripts.retry(
            self.q(queue), task_id, worker, at, error, time.time(), scripts.today(self.zone)
        )
        return bool(await self.run(call))

    async def archive(
        self, queue: str, task_id: str, worker: str, error: str, max_size: int, max_age: float
    ) -> bool:
        call = scripts.archive(
            self.q(queue),
            task_id,
            worker,
            error,
            time.time(),
            max_size,
            max_age,
            scripts.today(self.zone),
        )
        return bool(await self.run(call))

    async def requeue(self, queue: str, ids: Sequence[str], worker: str) -> int:
        return int(await self.run(scripts.requeue(self.q(queue), ids, worker)))

    async def recover(self, queue: str, error: str, limit: int = 200) -> list[int]:
        res = await self.run(scripts.recover(self.q(queue), time.time(), limit, error))
        return [int(x) for x in res]

    async def extend_leases(self, active: dict[str, list[str]], until: float) -> None:
        """Push the lease expiry of held tasks (queue -> ids) to ``until``; one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for queue, ids in active.items():
            if ids:
                pipe.zadd(self.q(queue).lease, dict.fromkeys(ids, until), xx=True)
        await pipe.execute()

    async def wait_for_work(self, queues: Sequence[str], timeout: float) -> bool:
        """Block until a wake-up token arrives on one of ``queues`` (or ``timeout``).

        One ``BLPOP`` over every queue's notify list; on a Redis Cluster, where the lists
        are in several slots, one ``BLPOP`` per queue (:class:`~.cluster.NotifyWaiter`).
        """
        keys = [self.q(q).notify for q in queues]
        if self._blocking is None:
            self._blocking = connection.make_async(self.cfg, blocking=True)
            if self.cfg.cluster is not None:
                from .cluster import NotifyWaiter

                self._waiter = NotifyWaiter(self._blocking)
        if self._waiter is not None and len(keys) > 1:
            return await self._waiter.wait(keys, timeout)
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

    # -- the dashboard's sampler ----------------------------------------------------------
    async def queue_sizes(self) -> dict[str, dict[str, int]]:
        """Every known queue's count per state (``LLEN``/``ZCARD``; one round trip)."""
        names = sorted(_s(q) for q in await self.redis.smembers(self.keys.queues))
        pipe = self.redis.pipeline(transaction=False)
        for queue in names:
            q = self.q(queue)
            pipe.llen(q.pending)
            for state in STATES[1:]:
                pipe.zcard(q.by_state(state))
        res = await pipe.execute(raise_on_error=False)
        out: dict[str, dict[str, int]] = {}
        n = len(STATES)
        for i, queue in enumerate(names):
            values = res[i * n : (i + 1) * n]
            out[queue] = {
                state: (0 if isinstance(v, Exception) else int(v))
                for state, v in zip(STATES, values, strict=True)
            }
        return out

    async def record_sample(self, sample: str, now: float, gap: float, keep: int) -> bool:
        """Append one queue size sample unless one was taken less than ``gap`` s ago."""
        call = scripts.sample_record(self.keys.samples, now, gap, keep, sample)
        return bool(await self.run(call))

    async def note_leader(self, now: float) -> str | None:
        """Note since when the current scheduler leader holds the lease (JSON or None)."""
        value = await self.run(scripts.leader_seen(self.keys.scheduler, now))
        return None if not value else _s(value)

    async def keep_servers(self, now: float, keep: float, own: dict[str, str]) -> None:
        """Copy the live servers' heartbeat records (and ``own``: id -> JSON record of
        this process) into the kept records, and drop those older than ``keep`` s."""
        live = await self.redis.zrangebyscore(self.keys.servers, now, "+inf")
        copies: dict[str, str] = dict(own)
        if live:
            pipe = self.redis.pipeline(transaction=False)  # a cluster pipeline splits MGET
            pipe.mget([self.keys.server(_s(i)) for i in live])
            (records,) = await pipe.execute()
            for server_id, record in zip(live, records, strict=True):
                if record:
                    copies[_s(server_id)] = _s(record)
        kept = await self.redis.hgetall(self.keys.servers_seen)
        stale = []
        for server_id, record in kept.items():
            try:
                at = float(json.loads(record).get("at") or 0)
            except (ValueError, TypeError, AttributeError):
                at = 0.0
            if at < now - keep and _s(server_id) not in copies:
                stale.append(server_id)
        pipe = self.redis.pipeline(transaction=False)
        if copies:
            pipe.hset(self.keys.servers_seen, mapping=copies)
        if stale:
            pipe.hdel(self.keys.servers_seen, *stale)
        pipe.expire(self.keys.servers_seen, int(keep * 2) + 60)
        await pipe.execute()

    async def cancel_requests(self, held: dict[str, list[str]]) -> dict[str, list[str]]:
        """Of the tasks a worker holds (queue -> ids), those whose cancel was asked from the
        dashboard (queue -> ids); one round trip. For the worker's heartbeat."""
        queues = [q for q, ids in held.items() if ids]
        if not queues:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        for queue in queues:
            pipe.zmscore(self.q(queue).cancel, held[queue])
        out: dict[str, list[str]] = {}
        for queue, scores in zip(queues, await pipe.execute(), strict=True):
            asked = [i for i, s in zip(held[queue], scores, strict=True) if s is not None]
            if asked:
                out[queue] = asked
        return out

    async def clear_cancel(self, queue: str, ids: Sequence[str]) -> None:
        """Drop the cancel requests of tasks the worker has acted on."""
        if ids:
            await self.redis.zrem(self.q(queue).cancel, *ids)

    async def forget_server(self, server_id: str) -> None:
        """Drop a kept server record (a process that stopped and has nothing to show)."""
        await self.redis.hdel(self.keys.servers_seen, server_id)


__all__ = [
    "CONNECTION_ERRORS",
    "STATES",
    "AsyncBroker",
    "Broker",
    "Prepared",
    "redis",
    "refusal",
]

"""The asyncio broker: what the worker, the scheduler and the dashboard's sampler run
against Redis (see :class:`~.broker.Broker` for the synchronous side)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import tzinfo
from functools import cached_property
from typing import TYPE_CHECKING, Any

import redis.exceptions as rexc

from ..errors import MalformedKey
from ..records import STATES, FetchResult, Leased, RecoverResult
from . import connection, relays, scripts
from .asynq_ops import AsynqOps
from .base import BrokerBase, _s
from .cluster import NotifyWaiter
from .connection import CONNECTION_ERRORS
from .keys import SEEN_KEEP, SEEN_TTL
from .redis_clock import RedisClock
from .scripts import AckItem, AsynqPrepared, Call, EnqueueCode, Prepared

if TYPE_CHECKING:
    from ..config.settings import RedisSettings


async def _scripts_pipelined(
    broker: BrokerBase, pipe: Any, calls: Sequence[Call], *, asynq: bool = False
) -> list[Any]:
    """Run script calls on ``pipe`` (after what it holds already) in one round trip; the
    results of everything it held, in order, raising the first error as ``execute`` does.
    ``asynq``: the pipeline is on the Redis of the Asynq queues (``asynq.redis``).

    Each call is an ``EVALSHA``, sent without asking first whether Redis has the script:
    redis-py's scripts on a pipeline send ``SCRIPT EXISTS`` before the pipeline, one
    more round trip on every call. A script Redis lacks (restarted, flushed) answers
    ``NOSCRIPT`` without running; it is loaded and those calls alone run again, in order.
    """
    registered = broker._asynq_scripts if asynq else broker._scripts
    client = broker.asynq_redis if asynq else broker.redis
    for name, keys, args in calls:
        # Awaited: the cluster pipeline queues a script call in a coroutine; redis-py's
        # pipeline returns itself, which awaits to itself.
        await pipe.evalsha(registered[name].sha, len(keys), *keys, *args)
    try:
        results = list(await pipe.execute(raise_on_error=False))
    finally:
        # redis-py's pipeline gives its connection back (a cancel while it waited); the
        # cluster's holds none (its attributes are commands: hence vars()).
        if vars(pipe).get("connection") is not None:
            await pipe.reset()
    first = len(results) - len(calls)
    again = [i for i in range(len(calls)) if isinstance(results[first + i], rexc.NoScriptError)]
    if again:
        for name in {calls[i][0] for i in again}:
            await client.script_load(scripts.SOURCES[name])
        retry = client.pipeline(transaction=False)
        for i in again:
            name, keys, args = calls[i]
            await retry.evalsha(registered[name].sha, len(keys), *keys, *args)
        for i, result in zip(again, await retry.execute(raise_on_error=False), strict=True):
            results[first + i] = result
    for result in results:
        if isinstance(result, Exception):
            raise result
    return results


class AsyncBroker(BrokerBase):
    """asyncio broker (worker, scheduler)."""

    def __init__(
        self,
        cfg: RedisSettings,
        client: Any | None = None,
        *,
        zone: tzinfo | None = None,
        asynq_redis: RedisSettings | None = None,
    ) -> None:
        super().__init__(
            cfg,
            client if client is not None else connection.make_async(cfg),
            zone,
            connection.make_async(asynq_redis) if asynq_redis is not None else None,
            asynq_redis,
        )
        self._blocking: Any = None
        self._waiter: NotifyWaiter | None = None
        #: Redis TIME -> time.time() (the start times of rate-limited tasks).
        self.redis_clock = RedisClock()

    @cached_property
    def asynq_ops(self) -> AsynqOps:
        """The worker's calls on the queues of ``asynq.queues`` (Asynq's layout)."""
        return AsynqOps(self.asynq_redis, self.run_asynq)

    async def run_asynq(self, call: Call) -> Any:
        """Run one script call on the Redis of the Asynq queues."""
        name, keys, args = call
        return await self._asynq_scripts[name](keys=keys, args=args)

    async def results(self, queue: str, ids: Sequence[str]) -> list[Any]:
        """The kept results of tasks of ``queue``, in order (None: none kept); an id
        ``<id>@<other queue>`` is read in that queue (a workflow step's parent there).
        Several of one queue are one script call (a chord's step reads its whole group's
        results at once), else one pipelined ``HGET`` each."""
        try:
            if len(ids) > 1 and not any("@" in task_id for task_id in ids):
                name, keys, args = scripts.results(self.q(queue), ids)
                raw = await self._scripts[name](keys=keys, args=args)
            else:
                pipe = self.redis.pipeline(transaction=False)
                for task_id in ids:
                    task_id, _, other = task_id.partition("@")
                    pipe.hget(self.q(other or queue).task(task_id), "result")
                raw = await pipe.execute()
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.cfg, exc) from None
        return [json.loads(r) if r else None for r in raw]

    async def enqueue_workflow(self, queue: str, call: Call) -> bool:
        """Run a ``wf_enqueue`` call for ``queue``: False when the workflow or a step id
        exists (nothing written)."""
        name, keys, args = call
        try:
            await self.redis.sadd(self.keys.queues, queue)
            written = await self._scripts[name](keys=keys, args=args)
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.cfg, exc) from None
        except rexc.ResponseError as exc:
            if "WRONGTYPE" in str(exc):
                raise MalformedKey(str(exc).removeprefix("WRONGTYPE ")) from None
            raise
        return bool(written)

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

    async def load_scripts(self) -> None:
        """Load every script into Redis now (one round trip; on a Redis Cluster, one call
        per script, each sent to every primary), so no task's first script call pays for
        ``NOSCRIPT`` and a ``SCRIPT LOAD``."""
        if self.cfg.cluster is not None:
            for src in scripts.SOURCES.values():
                await self.redis.script_load(src)
            return
        pipe = self.redis.pipeline(transaction=False)
        for src in scripts.SOURCES.values():
            pipe.script_load(src)
        await pipe.execute()

    async def close(self) -> None:
        await self.redis.aclose()
        if self.asynq_redis is not self.redis:
            await self.asynq_redis.aclose()
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
        results = await _scripts_pipelined(self, pipe, [call for _, call in calls])
        results = results[1 if new else 0 :]
        self._known_queues.update(new)
        codes = self._codes(len(tasks), calls, results)
        if any(t.remote_deps for t in tasks):
            await relays.link_async(self, tasks, codes)
        return codes

    async def enqueue_asynq(self, tasks: Sequence[AsynqPrepared]) -> list[EnqueueCode]:
        """Enqueue tasks into queues of Asynq's layout (see :meth:`Broker.enqueue_asynq`)."""
        calls = self._asynq_calls(tasks)
        pipe = self.asynq_redis.pipeline(transaction=False)
        pipe.sadd(self.asynq.queues, *{t.queue for t in tasks})
        try:
            results = await _scripts_pipelined(self, pipe, [call for _, call in calls], asynq=True)
            results = results[1:]
        except rexc.ResponseError as exc:
            if "WRONGTYPE" in str(exc):
                raise MalformedKey(str(exc).removeprefix("WRONGTYPE ")) from None
            raise
        return self._codes(len(tasks), calls, results)

    async def record_stats(
        self, by_queue: Mapping[str, Sequence[scripts.StatsRow | tuple[Any, ...]]]
    ) -> None:
        """Add per type figures to each queue's daily and total statistics."""
        day = scripts.today(self.zone)
        calls = [scripts.stats_record(self.q(q), day, rows) for q, rows in by_queue.items()]
        await _scripts_pipelined(self, self.redis.pipeline(transaction=False), calls)

    async def register_queues(self, queues: Iterable[str]) -> None:
        known = self._recall_queues(time.time())
        new = [q for q in queues if q not in known]
        if new:
            await self.redis.sadd(self.keys.queues, *new)
            self._known_queues.update(new)

    async def fetch(
        self,
        queue: str,
        n: int,
        lease_until: float,
        worker: str,
        limits: scripts.QueueLimits | None = None,
    ) -> FetchResult:
        """Lease up to ``n`` tasks of ``queue`` (within the queue's ``limits``, and each
        limited type's own): the leased tasks, the pending ids the script could not lease
        (archived or dropped, with why) and the next due time (a limit's wake-up too)."""
        sent = time.time()
        call = scripts.fetch(self.q(queue), n, sent, lease_until, worker, limits)
        out = await self.run(call)
        head = _s(out[0])
        redis_now, items = (int(out[1]) / 1e6, out[2:]) if len(out) > 1 else (0.0, [])
        if redis_now:
            self.redis_clock.seen(redis_now, sent, time.time())
        leased: list[Leased] = []
        unusable: list[tuple[str, str]] = []
        for i in range(0, len(items), 5):
            task_id, raw, retried = _s(items[i]), items[i + 1], int(items[i + 2])
            if retried < 0:  # not leased: the script says why
                unusable.append((task_id, _s(raw)))
            elif wait := int(items[i + 3]):  # its start time, on this process's clock
                at = self.redis_clock.local(redis_now + wait / 1e6)
                leased.append(Leased(task_id, raw, retried, at, int(items[i + 4]) / 2e6))
            else:
                leased.append(Leased(task_id, raw, retried))
        paused = head == "paused"
        due = float(head) if head and not paused else None
        return FetchResult(leased, unusable, due, paused)

    async def late_start(
        self, queue: str, task_id: str, limits: scripts.QueueLimits | None = None
    ) -> float:
        """A new start time (``time.time()``) for a rate-limited task its worker came to
        late, or 0.0: start now (``late_start.lua``)."""
        sent = time.time()
        redis_now, wait = await self.run(scripts.late_start(self.q(queue), task_id, limits))
        self.redis_clock.seen(redis_now / 1e6, sent, time.time())
        return self.redis_clock.local((redis_now + wait) / 1e6) if wait else 0.0

    async def ack(
        self, queue: str, items: list[AckItem], worker: str, *, wake: bool = False
    ) -> list[str]:
        """Ack ``items``; ``wake``: the queue has its own limits (see ``scripts.ack``)."""
        call = scripts.ack(
            self.q(queue),
            items,
            worker,
            time.time(),
            scripts.today(self.zone),
            wake=wake,
        )
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

    async def recover(self, queue: str, error: str, limit: int = 200) -> RecoverResult:
        """Return the tasks of ``queue`` whose lease expired (archived when their retries
        are used up) and delete completed tasks whose retention ran out."""
        res = await self.run(scripts.recover(self.q(queue), time.time(), limit, error))
        counts = [int(x) for x in res][:5]
        return RecoverResult(*counts)

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
                self._waiter = NotifyWaiter(self._blocking)
        if self._waiter is not None and len(keys) > 1:
            return await self._waiter.wait(keys, timeout)
        res = await self._blocking.blpop(keys, timeout=max(0.01, round(timeout, 3)))
        return res is not None

    async def set_progress(self, queue: str, task_id: str, worker: str, text: str) -> bool:
        """Keep a held task's progress (JSON) in its hash; False when not held."""
        return bool(await self.run(scripts.progress(self.q(queue), task_id, worker, text)))

    async def heartbeat(self, server_id: str, info: str, ttl: float) -> None:
        """A worker's beat: its expiry among the live servers, its record (JSON) for
        ``ttl`` s, and the same record among the servers seen, so a worker killed before
        any sampler noticed it still shows, by name, as dead."""
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(self.keys.servers, {server_id: now + ttl})
        pipe.set(self.keys.server(server_id), info, px=int(ttl * 1000))
        pipe.hset(self.keys.servers_seen, server_id, info)
        pipe.expire(self.keys.servers_seen, SEEN_TTL)
        await pipe.execute()

    async def remove_server(self, server_id: str, record: str | None = None) -> None:
        """A worker's goodbye: its heartbeat goes, and its last record (JSON, holding
        no task) replaces the last beat's among the servers seen, so it shows as
        stopped."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.zrem(self.keys.servers, server_id)
        pipe.delete(self.keys.server(server_id))
        if record is not None:
            pipe.hset(self.keys.servers_seen, server_id, record)
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

    async def keep_servers(self, now: float, own: dict[str, str]) -> None:
        """Keep ``own`` (id -> JSON record of this process, which runs no worker) among
        the servers seen, and drop the records older than :data:`SEEN_KEEP` s (workers
        keep their own with each heartbeat)."""
        kept = await self.redis.hgetall(self.keys.servers_seen)
        stale = []
        for server_id, record in kept.items():
            try:
                at = float(json.loads(record).get("at") or 0)
            except (ValueError, TypeError, AttributeError):
                at = 0.0
            if at < now - SEEN_KEEP and _s(server_id) not in own:
                stale.append(server_id)
        pipe = self.redis.pipeline(transaction=False)
        if own:
            pipe.hset(self.keys.servers_seen, mapping=own)
        if stale:
            pipe.hdel(self.keys.servers_seen, *stale)
        pipe.expire(self.keys.servers_seen, SEEN_TTL)
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

    async def cancel_asker(self, queue: str, task_id: str) -> str:
        """Who asked to cancel the active task ``task_id`` (as ``task_cancel`` recorded
        it), or "" when no request is pending."""
        q = self.q(queue)
        pipe = self.redis.pipeline(transaction=False)
        pipe.zscore(q.cancel, task_id)
        pipe.hget(q.task(task_id), "cancel_by")
        asked, who = await pipe.execute()
        if asked is None:
            return ""
        return "a cancel request" if who is None else _s(who)

    async def clear_cancel(self, queue: str, ids: Sequence[str]) -> None:
        """Drop the cancel requests of tasks the worker has acted on."""
        if ids:
            await self.redis.zrem(self.q(queue).cancel, *ids)

    async def forget_server(self, server_id: str) -> None:
        """Drop a kept server record (a process that stopped and has nothing to show)."""
        await self.redis.hdel(self.keys.servers_seen, server_id)

"""The Redis data layer's read side: queues, tasks, servers and the scheduler's state.

:class:`Reader` (synchronous) serves the inspector, and through it the CLI and the
dashboard; it returns the records of :mod:`bingo_core.records`. Counts come from
``LLEN``/``ZCARD`` and counters, never from a scan of a state; a key of the wrong type is
reported by name (:class:`~bingo_core.errors.MalformedKey`), never raised as a Redis
error. The task, server and scheduler reads are in :mod:`.read_tasks`,
:mod:`.read_servers` and :mod:`.read_sched`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .. import records
from ..limits import split_subject, subject_of
from ..records import STATES, Batched, QueueStats, Throttled
from . import connection
from .connection import CONNECTION_ERRORS
from .read_base import integer, number, text
from .read_sched import SchedulerReads
from .read_servers import ServerReads
from .read_tasks import TaskReads
from .scripts import DURATION_BUCKETS, today

if TYPE_CHECKING:
    from ..records import MemoryUsage, RedisInfo, Sample, TypeStats


class Reader(TaskReads, ServerReads, SchedulerReads):
    """Read-only access to Bingo's keys through a synchronous redis-py client."""

    # -- queues ---------------------------------------------------------------------------
    def queues(self) -> list[str]:
        """Every queue name ever used, sorted."""
        pipe = self._pipe()
        pipe.smembers(self.keys.queues)
        (members,) = self._run(pipe, self.keys.queues)
        names = []
        for member in members:
            try:  # a name that is not UTF-8 was not written by Bingo: left out
                names.append(member.decode() if isinstance(member, bytes) else str(member))
            except UnicodeDecodeError:
                continue
        return sorted({*names, *self.asynq_queues})

    def asynq_listed(self) -> set[str]:
        """The members of ``asynq:queues`` (Asynq's queue list)."""
        pipe = self._asynq_pipe()
        pipe.smembers(self._asynq.queues)
        (members,) = self._run(pipe, self._asynq.queues)
        return {text(m) for m in members}

    def queue_stats(self, queue: str) -> QueueStats:
        """Counts per state, totals and today's counters, latency, paused flag."""
        q = self.tasks_at(queue)
        day = today(self.day_zone(queue))
        pipe = self._pipe_for(queue)
        pipe.llen(q.pending)
        for state in STATES[1:]:
            pipe.zcard(q.by_state(state))
        pipe.mget(q.processed, q.failed, q.processed_on(day), q.failed_on(day))
        pipe.exists(q.paused)
        pipe.lindex(q.pending, -1)
        pipe.zcard(q.throttled)
        res = self._run_each(pipe)
        n = len(STATES)
        bad = [
            key
            for key, value in zip([q.pending, *map(q.by_state, STATES[1:])], res[:n], strict=True)
            if isinstance(value, Exception)
        ]
        counts = [0 if isinstance(v, Exception) else int(v) for v in res[:n]]
        counters = res[n] if not isinstance(res[n], Exception) else [None] * 4
        processed, failed, p_day, f_day = (integer(x) for x in counters)
        latency = 0.0
        oldest = res[n + 2] if not isinstance(res[n + 2], Exception) else None
        if oldest is not None:
            info = self.get_task(queue, text(oldest), missing_ok=True)
            if info is not None and info.enqueued_at:
                latency = max(0.0, time.time() - info.enqueued_at)
        pending, active, scheduled, retry, archived, completed, waiting = counts
        throttled = 0
        if not isinstance(res[n + 3], Exception) and res[n + 3]:
            throttled = sum(t.held for t in self.throttled(queue))
        return QueueStats(
            queue=queue,
            pending=pending,
            active=active,
            scheduled=scheduled,
            retry=retry,
            archived=archived,
            completed=completed,
            size=sum(counts) - completed + throttled,
            processed=processed,
            failed=failed,
            processed_today=p_day,
            failed_today=f_day,
            paused=bool(res[n + 1]) and not isinstance(res[n + 1], Exception),
            latency=latency,
            bad_keys=bad,
            waiting=waiting,
            throttled=throttled,
            layout="asynq" if queue in self.asynq_queues else "bingo",
        )

    def throttled(self, queue: str) -> list[Throttled]:
        """The tasks of ``queue`` held back by limits, per task type and key value."""
        q = self.q(queue)
        pipe = self._pipe()
        pipe.zrange(q.throttled, 0, -1)
        found = self._run_each(pipe)[0]
        if isinstance(found, Exception) or not found:
            return []
        subjects = sorted({subject_of(text(lim)) for lim in found})
        pipe = self._pipe()
        for subject in subjects:
            pipe.llen(q.limit(subject, "held"))
            pipe.lindex(q.limit(subject, "held"), -1)
        res = self._run_each(pipe)
        now = time.time()
        out = []
        for i, subject in enumerate(subjects):
            held, first = res[2 * i], res[2 * i + 1]
            if isinstance(held, Exception) or not held:
                continue
            waited = 0.0
            if first is not None and not isinstance(first, Exception):
                info = self.get_task(queue, text(first), missing_ok=True)
                if info is not None and info.enqueued_at:
                    waited = max(0.0, now - info.enqueued_at)
            task_type, key = split_subject(subject)
            out.append(Throttled(queue, task_type, key, int(held), waited))
        return out

    def batches(self, queue: str, limit: int = 1000) -> list[Batched]:
        """The batch items of ``queue`` held per task type and key value (the first
        ``limit`` groups by due time)."""
        q = self.q(queue)
        pipe = self._pipe()
        pipe.zrange(q.batches, 0, limit - 1, withscores=True)
        found = self._run_each(pipe)[0]
        if isinstance(found, Exception) or not found:
            return []
        pipe = self._pipe()
        for group, _ in found:
            g = text(group)
            pipe.hmget(q.batch_prefix + "m:" + g, "type", "key")
            pipe.llen(q.batch_prefix + "i:" + g)
            pipe.lindex(q.batch_prefix + "i:" + g, 0)
        res = self._run_each(pipe)
        now = time.time()
        out = []
        for i, (_, due) in enumerate(found):
            meta, items, first = res[3 * i : 3 * i + 3]
            if isinstance(meta, Exception) or isinstance(items, Exception) or not items:
                continue
            oldest = number(text(first).split(" ", 1)[0]) if first else None
            waited = max(0.0, now - oldest) if oldest else 0.0
            task_type, key = text(meta[0] or b""), text(meta[1] or b"")
            out.append(Batched(queue, task_type, key, int(items), waited, max(0.0, due - now)))
        return out

    def task_stats(self, queue: str, day: str | None = None) -> list[TypeStats]:
        """Per task type figures of ``queue`` for one day (``YYYY-MM-DD`` in the server's
        time zone) or, with no day, in total: processed, failed, duration sum/max and
        histogram, p50 and p95."""
        q = self.q(queue)
        key = q.stats_on(day) if day else q.stats_total
        pipe = self._pipe()
        pipe.hgetall(key)
        (raw,) = self._run(pipe, key)
        nb = len(DURATION_BUCKETS) + 1
        by_type: dict[str, tuple[list[float], list[int]]] = {}
        errors: dict[str, tuple[str, float | None]] = {}
        for field, value in raw.items():
            name, _, part = text(field).rpartition("|")
            if not name:
                continue
            figures, buckets = by_type.setdefault(name, ([0.0, 0.0, 0.0, 0.0], [0] * nb))
            if part in ("e", "et"):
                error, at = errors.get(name, ("", None))
                errors[name] = (text(value), at) if part == "e" else (error, number(value))
                continue
            found = number(value) or 0.0
            if part in ("p", "f", "s", "m"):
                figures["pfsm".index(part)] = found
            elif part.startswith("b") and part[1:].isdigit() and int(part[1:]) < nb:
                buckets[int(part[1:])] = int(found)
        out = []
        for name, ((p, f, s, m), buckets) in sorted(by_type.items()):
            out.append(
                records.TypeStats(
                    queue=queue,
                    type=name,
                    processed=int(p),
                    failed=int(f),
                    duration_sum=s,
                    duration_max=m,
                    buckets=buckets,
                    p50=_quantile(buckets, 0.5, m),
                    p95=_quantile(buckets, 0.95, m),
                    last_error=errors.get(name, ("", None))[0],
                    last_error_at=errors.get(name, ("", None))[1],
                )
            )
        return out

    def daily_counts(self, queue: str, days: Sequence[str]) -> list[tuple[int, int]]:
        """``(processed, failed)`` of ``queue`` on each day of ``days`` (dates in the
        server's time zone; 0 when none)."""
        q = self.q(queue)
        if not days:
            return []
        pipe = self._pipe()
        pipe.mget([q.processed_on(d) for d in days] + [q.failed_on(d) for d in days])
        (values,) = self._run(pipe, q.processed)
        n = len(days)
        return [(integer(values[i]), integer(values[n + i])) for i in range(n)]

    def memory(self, queue: str, sample: int = 5) -> MemoryUsage:
        """Bytes ``queue`` holds, estimated with ``MEMORY USAGE``: its state keys (each
        sampled), plus the task hashes as ``sample`` of them, averaged, times the count."""
        q = self.q(queue)
        keys = [q.by_state(state) for state in STATES]
        pipe = self._pipe()
        for key in keys:
            pipe.memory_usage(key, samples=5)
        pipe.lrange(q.pending, -sample, -1)
        for state in STATES[1:]:
            pipe.zrange(q.by_state(state), 0, sample - 1)
        pipe.llen(q.pending)
        for state in STATES[1:]:
            pipe.zcard(q.by_state(state))
        res = self._run_each(pipe)
        n = len(STATES)
        structures = sum(integer(v) for v in res[:n] if not isinstance(v, Exception))
        ids: list[str] = []
        for found in res[n : 2 * n]:
            if not isinstance(found, Exception):
                ids += [text(i) for i in found]
        count = sum(integer(v) for v in res[2 * n :] if not isinstance(v, Exception))
        picked = ids[:sample]
        per_task = 0.0
        if picked:
            pipe = self._pipe()
            for task_id in picked:
                pipe.memory_usage(q.task(task_id), samples=5)
            sizes = self._run_each(pipe)
            known = [integer(v) for v in sizes if not isinstance(v, Exception) and v]
            per_task = sum(known) / len(known) if known else 0.0
        return records.MemoryUsage(
            queue=queue,
            bytes=int(structures + per_task * count),
            structures=structures,
            per_task=round(per_task, 1),
            tasks=count,
            sampled=len(picked),
        )

    def samples(self, limit: int = 360) -> list[Sample]:
        """The queue size samples, oldest first."""
        pipe = self._pipe()
        pipe.lrange(self.keys.samples, 0, max(0, limit - 1))
        (items,) = self._run(pipe, self.keys.samples)
        out = []
        for item in reversed(items):
            try:
                data = json.loads(item)
            except ValueError:
                continue
            if not isinstance(data, dict) or not isinstance(data.get("t"), int | float):
                continue
            sizes = data.get("q")
            per_queue = {
                str(queue): {
                    str(s): integer(n) for s, n in counts.items() if not isinstance(n, bool)
                }
                for queue, counts in (sizes.items() if isinstance(sizes, dict) else ())
                if isinstance(counts, dict)
            }
            out.append(records.Sample(float(data["t"]), per_queue))
        return out

    # -- Redis ----------------------------------------------------------------------------
    def redis_info(self, scan_limit: int = 10000) -> RedisInfo:
        """Version, mode, memory, clients and the number of keys under the prefix (counted
        with ``SCAN`` up to ``scan_limit`` keys; ``keys_more`` when there are more)."""
        try:
            info = self.redis.info()
            dbsize = self.redis.dbsize()
            counted = 0
            for _ in self.redis.scan_iter(match=f"{self.keys.prefix}:*", count=1000):
                counted += 1
                if counted >= scan_limit:
                    break
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.cfg, exc) from None
        if info and all(isinstance(v, dict) for v in info.values()):  # Cluster: per node
            info = next(iter(info.values()))
        if isinstance(dbsize, dict):
            dbsize = sum(integer(v) for v in dbsize.values())
        mode = "sentinel" if self.cfg.sentinel is not None else str(info.get("redis_mode", ""))
        if self.cfg.cluster:
            mode = "cluster"
        return records.RedisInfo(
            version=str(info.get("redis_version", "")),
            mode=mode or "standalone",
            address=str(self.cfg.address),
            uptime=integer(info.get("uptime_in_seconds")),
            used_memory=integer(info.get("used_memory")),
            used_memory_human=str(info.get("used_memory_human", "")),
            used_memory_peak=integer(info.get("used_memory_peak")),
            maxmemory=integer(info.get("maxmemory")),
            maxmemory_policy=str(info.get("maxmemory_policy", "")),
            connected_clients=integer(info.get("connected_clients")),
            blocked_clients=integer(info.get("blocked_clients")),
            ops_per_sec=integer(info.get("instantaneous_ops_per_sec")),
            dbsize=integer(dbsize),
            prefix=self.keys.prefix,
            keys=counted,
            keys_more=counted >= scan_limit,
            role=str(info.get("role", "")),
        )


def _quantile(buckets: list[int], q: float, peak: float) -> float:
    """The duration below which a fraction ``q`` of the attempts fell, read off the
    histogram (the upper bound of the bucket it lands in; the max for the last one)."""
    total = sum(buckets)
    if total == 0:
        return 0.0
    rank = q * total
    seen = 0
    for i, count in enumerate(buckets):
        seen += count
        if seen >= rank:
            return min(DURATION_BUCKETS[i], peak) if i < len(DURATION_BUCKETS) else peak
    return peak


__all__ = ["STATES", "Reader"]

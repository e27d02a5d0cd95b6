"""The Redis data layer's read side: queues, tasks, servers and the scheduler's state.

:class:`Reader` (synchronous) serves the inspector, and through it the CLI and the
dashboard. Counts come from ``LLEN``/``ZCARD`` and counters, never from a scan of a state;
a key of the wrong type is reported by name (:class:`~bingo_core.errors.MalformedKey`),
never raised as a Redis error.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import redis.exceptions as rexc

from ..errors import MalformedKey, TaskNotFound
from ..message import TaskInfo
from . import connection
from .connection import CONNECTION_ERRORS
from .keys import Keys, QueueKeys
from .scripts import DURATION_BUCKETS, today

if TYPE_CHECKING:
    from ..config.settings import RedisSettings

STATES = ("pending", "active", "scheduled", "retry", "archived", "completed")


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _num(value: Any) -> float | None:
    if value is None or value in (b"", ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


class Reader:
    """Read-only access to Bingo's keys through a synchronous redis-py client."""

    def __init__(self, cfg: RedisSettings, client: Any) -> None:
        self.cfg = cfg
        self.redis = client
        self.keys = Keys(cfg.prefix)

    def q(self, queue: str) -> QueueKeys:
        return self.keys.queue(queue)

    def _run(self, pipe: Any, what: str = "") -> list[Any]:
        try:
            return list(pipe.execute())
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.cfg, exc) from None
        except rexc.ResponseError as exc:
            raise MalformedKey(f"{what or 'a key'}: {exc}") from None

    def _pipe(self) -> Any:
        return self.redis.pipeline(transaction=False)

    # -- queues ---------------------------------------------------------------------------
    def queues(self) -> list[str]:
        """Every queue name ever used, sorted."""
        pipe = self._pipe()
        pipe.smembers(self.keys.queues)
        (members,) = self._run(pipe, self.keys.queues)
        return sorted(_s(q) for q in members)

    def queue_stats(self, queue: str) -> dict[str, Any]:
        """Counts per state, totals and today's counters, latency, paused flag."""
        q = self.q(queue)
        day = today()
        pipe = self._pipe()
        pipe.llen(q.pending)
        for state in STATES[1:]:
            pipe.zcard(q.by_state(state))
        pipe.mget(q.processed, q.failed, q.processed_on(day), q.failed_on(day))
        pipe.exists(q.paused)
        pipe.lindex(q.pending, -1)
        try:
            res = pipe.execute(raise_on_error=False)
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.cfg, exc) from None
        bad = [
            key
            for key, value in zip([q.pending, *map(q.by_state, STATES[1:])], res[:6], strict=True)
            if isinstance(value, Exception)
        ]
        counts = {
            state: (0 if isinstance(v, Exception) else int(v))
            for state, v in zip(STATES, res[:6], strict=True)
        }
        counters = res[6] if not isinstance(res[6], Exception) else [None] * 4
        processed, failed, p_day, f_day = (_int(x) for x in counters)
        latency = 0.0
        oldest = res[8] if not isinstance(res[8], Exception) else None
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
            "paused": bool(res[7]) and not isinstance(res[7], Exception),
            "latency": latency,
            "bad_keys": bad,
        }

    def task_stats(self, queue: str, day: str | None = None) -> list[dict[str, Any]]:
        """Per task type figures of ``queue`` for one UTC day (``YYYY-MM-DD``) or, with no
        day, in total: processed, failed, duration sum/max and histogram, p50 and p95."""
        q = self.q(queue)
        key = q.stats_on(day) if day else q.stats_total
        pipe = self._pipe()
        pipe.hgetall(key)
        (raw,) = self._run(pipe, key)
        by_type: dict[str, dict[str, Any]] = {}
        nb = len(DURATION_BUCKETS) + 1
        for field, value in raw.items():
            name, _, part = _s(field).rpartition("|")
            if not name:
                continue
            row = by_type.setdefault(
                name,
                {
                    "queue": queue,
                    "type": name,
                    "processed": 0,
                    "failed": 0,
                    "duration_sum": 0.0,
                    "duration_max": 0.0,
                    "buckets": [0] * nb,
                },
            )
            number = _num(value) or 0.0
            if part == "p":
                row["processed"] = int(number)
            elif part == "f":
                row["failed"] = int(number)
            elif part == "s":
                row["duration_sum"] = number
            elif part == "m":
                row["duration_max"] = number
            elif part.startswith("b") and part[1:].isdigit() and int(part[1:]) < nb:
                row["buckets"][int(part[1:])] = int(number)
        for row in by_type.values():
            row["p50"] = _quantile(row["buckets"], 0.5, row["duration_max"])
            row["p95"] = _quantile(row["buckets"], 0.95, row["duration_max"])
        return sorted(by_type.values(), key=lambda r: str(r["type"]))

    # -- tasks ----------------------------------------------------------------------------
    def list_ids(self, queue: str, state: str, offset: int = 0, limit: int = 50) -> list[str]:
        """Ids of a state, oldest first (pending: the head of the queue first)."""
        q = self.q(queue)
        key = q.by_state(state)
        pipe = self._pipe()
        if state == "pending":  # head (oldest) first
            pipe.lrange(key, -(offset + limit), -(offset + 1))
        else:
            pipe.zrange(key, offset, offset + limit - 1)
        (ids,) = self._run(pipe, key)
        if state == "pending":
            ids = ids[::-1]
        return [_s(i) for i in ids]

    def get_tasks(self, queue: str, ids: Sequence[str]) -> list[TaskInfo]:
        """The tasks of ``ids`` that exist; a task key of the wrong type is shown as
        malformed, naming the key."""
        q = self.q(queue)
        pipe = self._pipe()
        for task_id in ids:
            pipe.hgetall(q.task(task_id))
        try:
            rows = pipe.execute(raise_on_error=False)
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.cfg, exc) from None
        out = []
        for task_id, row in zip(ids, rows, strict=True):
            if isinstance(row, Exception):
                out.append(
                    TaskInfo(
                        id=task_id,
                        type="?",
                        queue=queue,
                        state="unknown",
                        error=f"malformed: key {q.task(task_id)} is not a hash",
                    )
                )
            elif row:
                out.append(TaskInfo.from_hash(queue, task_id, row))
        return out

    def get_task(self, queue: str, task_id: str, *, missing_ok: bool = False) -> TaskInfo | None:
        """One task, or None (``missing_ok``) / :class:`TaskNotFound`."""
        found = self.get_tasks(queue, [task_id])
        if not found:
            if missing_ok:
                return None
            raise TaskNotFound(f"no task {task_id!r} in queue {queue!r}")
        return found[0]

    # -- servers --------------------------------------------------------------------------
    def servers(self) -> list[dict[str, Any]]:
        """The live servers' heartbeat records (expired ones are dropped)."""
        pipe = self._pipe()
        pipe.zrangebyscore(self.keys.servers, time.time(), "+inf")
        (ids,) = self._run(pipe, self.keys.servers)
        if not ids:
            return []
        pipe = self._pipe()
        pipe.mget([self.keys.server(_s(i)) for i in ids])
        (raw,) = self._run(pipe, self.keys.servers)
        out = []
        for item in raw:
            if not item:
                continue
            try:
                data = json.loads(item)
            except ValueError:
                continue
            if isinstance(data, dict):
                out.append(data)
        return out

    # -- the scheduler --------------------------------------------------------------------
    def leader(self) -> dict[str, Any]:
        """``{"id": daemon id or None, "epoch": token, "ttl": seconds left or None}``."""
        s = self.keys.scheduler
        pipe = self._pipe()
        pipe.get(s.leader)
        pipe.get(s.epoch)
        pipe.pttl(s.leader)
        leader, epoch, pttl = self._run(pipe, s.leader)
        return {
            "id": None if leader is None else _s(leader),
            "epoch": _int(epoch),
            "ttl": pttl / 1000 if leader is not None and pttl >= 0 else None,
        }

    def entry_keys(self) -> list[str]:
        """Every published schedule entry key, sorted."""
        s = self.keys.scheduler
        pipe = self._pipe()
        pipe.smembers(s.entries)
        (members,) = self._run(pipe, s.entries)
        return sorted(_s(k) for k in members)

    def entries(self, keys: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Each published entry: source, name, spec, timezone, type, queue, misfire grace,
        next and last fire (epoch s), last task id, missed ticks; sorted by key."""
        s = self.keys.scheduler
        wanted = sorted(keys) if keys is not None else self.entry_keys()
        if not wanted:
            return []
        pipe = self._pipe()
        for key in wanted:
            pipe.hgetall(s.entry(key))
        try:
            rows = pipe.execute(raise_on_error=False)
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.cfg, exc) from None
        return [
            _decode_entry(k, r)
            for k, r in zip(wanted, rows, strict=True)
            if r and not isinstance(r, Exception)
        ]

    def history(self, key: str, limit: int = 100) -> list[dict[str, Any]]:
        """The entry's enqueue history, newest first: tick, task id, enqueued at, lateness
        (or ``missed`` / ``error`` items)."""
        s = self.keys.scheduler
        pipe = self._pipe()
        pipe.lrange(s.history(key), 0, max(0, limit - 1))
        (items,) = self._run(pipe, s.history(key))
        out = []
        for item in items:
            try:
                out.append(json.loads(item))
            except ValueError:
                continue
        return out

    def sync_status(self) -> dict[str, Any] | None:
        """The last published ``sys_crontab`` sync status, or None when none was."""
        s = self.keys.scheduler
        pipe = self._pipe()
        pipe.get(s.sync)
        (raw,) = self._run(pipe, s.sync)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None


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


def _decode_entry(key: str, raw: dict[Any, Any]) -> dict[str, Any]:
    data = {_s(k): _s(v) for k, v in raw.items()}
    try:
        info = json.loads(data.get("info", "{}"))
    except ValueError:
        info = {}
    if not isinstance(info, dict):
        info = {}
    missed = data.get("missed")
    return {
        "key": key,
        **info,
        "next_fire": _num(data.get("next")),
        "last_fire": _num(data.get("last_tick")),
        "last_task_id": data.get("last_task") or None,
        "last_enqueued_at": _num(data.get("last_at")),
        "missed": _int(missed),
    }

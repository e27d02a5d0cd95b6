"""The Redis data layer's read side: queues, tasks, servers and the scheduler's state.

:class:`Reader` (synchronous) serves the inspector, and through it the CLI and the
dashboard. Counts come from ``LLEN``/``ZCARD`` and counters, never from a scan of a state;
a key of the wrong type is reported by name (:class:`~bingo_core.errors.MalformedKey`),
never raised as a Redis error.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Sequence
from datetime import tzinfo
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
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _num(value: Any) -> float | None:
    if value is None or value in (b"", ""):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


class Reader:
    """Read-only access to Bingo's keys through a synchronous redis-py client."""

    def __init__(self, cfg: RedisSettings, client: Any, zone: tzinfo | None = None) -> None:
        self.cfg = cfg
        self.redis = client
        self.keys = Keys(cfg.prefix)
        #: The zone whose dates name the daily counters (the server's; UTC when None).
        self.zone = zone

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
        names = []
        for member in members:
            try:  # a name that is not UTF-8 was not written by Bingo: left out
                names.append(member.decode() if isinstance(member, bytes) else str(member))
            except UnicodeDecodeError:
                continue
        return sorted(names)

    def queue_stats(self, queue: str) -> dict[str, Any]:
        """Counts per state, totals and today's counters, latency, paused flag."""
        q = self.q(queue)
        day = today(self.zone)
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
        """Per task type figures of ``queue`` for one day (``YYYY-MM-DD`` in the server's
        time zone) or, with no
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

    # -- the dashboard's reads ------------------------------------------------------------
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
        return [(_int(values[i]), _int(values[n + i])) for i in range(n)]

    def memory(self, queue: str, sample: int = 5) -> dict[str, Any]:
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
        try:
            res = pipe.execute(raise_on_error=False)
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.cfg, exc) from None
        n = len(STATES)
        structures = sum(_int(v) for v in res[:n] if not isinstance(v, Exception))
        ids: list[str] = []
        for found in res[n : 2 * n]:
            if not isinstance(found, Exception):
                ids += [_s(i) for i in found]
        count = sum(_int(v) for v in res[2 * n :] if not isinstance(v, Exception))
        picked = ids[:sample]
        per_task = 0.0
        if picked:
            pipe = self._pipe()
            for task_id in picked:
                pipe.memory_usage(q.task(task_id), samples=5)
            try:
                sizes = pipe.execute(raise_on_error=False)
            except CONNECTION_ERRORS as exc:
                raise connection.unavailable(self.cfg, exc) from None
            known = [_int(v) for v in sizes if not isinstance(v, Exception) and v]
            per_task = sum(known) / len(known) if known else 0.0
        return {
            "queue": queue,
            "bytes": int(structures + per_task * count),
            "structures": structures,
            "per_task": round(per_task, 1),
            "tasks": count,
            "sampled": len(picked),
        }

    def samples(self, limit: int = 360) -> list[dict[str, Any]]:
        """The queue size samples, oldest first (``{"t": epoch, "q": {queue: {state: n}}}``)."""
        pipe = self._pipe()
        pipe.lrange(self.keys.samples, 0, max(0, limit - 1))
        (items,) = self._run(pipe, self.keys.samples)
        out = []
        for item in reversed(items):
            try:
                data = json.loads(item)
            except ValueError:
                continue
            if isinstance(data, dict) and isinstance(data.get("t"), int | float):
                out.append(data)
        return out

    def search(
        self,
        queue: str,
        state: str,
        text: str,
        where: str,
        *,
        start: int = 0,
        scan: int = 5000,
        limit: int = 50,
        batch: int = 500,
    ) -> dict[str, Any]:
        """Tasks of a state whose payload (``where="payload"``), error (``"error"``) or
        either (``"any"``) contains ``text`` (case-insensitive), looking at no more than
        ``scan`` tasks from position ``start``. Returns ``ids`` (at most ``limit``),
        ``scanned``, and ``next``: where to go on, or None when the state was read to its
        end. The matching is done here, not in Redis, so a search never blocks Redis."""
        q = self.q(queue)
        needle = text.lower()
        found: list[str] = []
        position, scanned = start, 0
        while scanned < scan and len(found) < limit:
            ids = self.list_ids(queue, state, position, min(batch, scan - scanned))
            if not ids:
                return {"ids": found, "scanned": scanned, "next": None}
            pipe = self._pipe()
            for task_id in ids:
                pipe.hmget(q.task(task_id), "msg", "error")
            try:
                rows = pipe.execute(raise_on_error=False)
            except CONNECTION_ERRORS as exc:
                raise connection.unavailable(self.cfg, exc) from None
            for i, (task_id, row) in enumerate(zip(ids, rows, strict=True)):
                if isinstance(row, Exception) or row[0] is None:
                    continue
                if _matches(row[0], row[1], needle, where):
                    found.append(task_id)
                    if len(found) == limit:
                        position += i + 1
                        scanned += i + 1
                        return {"ids": found, "scanned": scanned, "next": position}
            position += len(ids)
            scanned += len(ids)
        return {"ids": found, "scanned": scanned, "next": position}

    def cancel_requested(self, queue: str, ids: Sequence[str]) -> dict[str, float]:
        """Those of ``ids`` with a pending cancel request, and when it was made."""
        if not ids:
            return {}
        pipe = self._pipe()
        pipe.zmscore(self.q(queue).cancel, list(ids))
        (scores,) = self._run(pipe, self.q(queue).cancel)
        return {i: float(s) for i, s in zip(ids, scores, strict=True) if s is not None}

    def started(self, tasks: Sequence[tuple[str, str]]) -> dict[str, float]:
        """``started_at`` of each ``(queue, id)`` that has one, by id."""
        if not tasks:
            return {}
        pipe = self._pipe()
        for queue, task_id in tasks:
            pipe.hget(self.q(queue).task(task_id), "started_at")
        try:
            values = pipe.execute(raise_on_error=False)
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.cfg, exc) from None
        out = {}
        for (_, task_id), value in zip(tasks, values, strict=True):
            number = None if isinstance(value, Exception) else _num(value)
            if number is not None:
                out[task_id] = number
        return out

    def server_records(self, keep: float = 3600.0, limit: int = 1000) -> list[dict[str, Any]]:
        """Every server with a heartbeat in the last ``keep`` seconds, live or not: its
        record, ``status`` (``live``; ``dead`` when its heartbeat stopped; ``stopped`` when
        it said goodbye) and ``expires`` (its heartbeat's expiry, epoch s)."""
        now = time.time()
        pipe = self._pipe()
        pipe.zrange(self.keys.servers, 0, limit - 1, desc=True, withscores=True)
        pipe.hgetall(self.keys.servers_seen)
        listed, seen = self._run(pipe, self.keys.servers)
        expiry = {_s(i): float(score) for i, score in listed}
        ids = [i for i, score in expiry.items() if score >= now - keep]
        live: dict[str, Any] = {}
        if ids:
            pipe = self._pipe()
            pipe.mget([self.keys.server(i) for i in ids])
            (raw,) = self._run(pipe, self.keys.servers)
            for server_id, item in zip(ids, raw, strict=True):
                data = _json_object(item)
                if data is not None:
                    live[server_id] = data
        kept = {_s(k): _json_object(v) for k, v in seen.items()}
        out = []
        for server_id in sorted(set(ids) | {k for k, v in kept.items() if v is not None}):
            record = live.get(server_id) or kept.get(server_id) or {"id": server_id}
            expires = expiry.get(server_id)
            if expires is not None:  # a worker: its heartbeat is in the servers zset
                status = "live" if expires >= now and server_id in live else "dead"
            elif isinstance(record.get("expires"), int | float):  # a record kept by itself
                expires = float(record["expires"])
                status = "live" if expires >= now else "dead"
            else:  # a worker that shut down and removed its heartbeat
                status = "stopped"
            last = record.get("at") if isinstance(record.get("at"), int | float) else expires
            if status != "live" and (last is None or last < now - keep):
                continue
            out.append({**record, "id": server_id, "status": status, "expires": expires})
        return out

    def leader_since(self) -> dict[str, Any] | None:
        """The leader id, epoch and since when (epoch s), as the sampler last noted them."""
        s = self.keys.scheduler
        pipe = self._pipe()
        pipe.get(s.leader_since)
        (raw,) = self._run(pipe, s.leader_since)
        return _json_object(raw)

    def published(self, keys: Sequence[str]) -> set[str]:
        """Those of ``keys`` that are published schedule entries (one ``SMISMEMBER``)."""
        if not keys:
            return set()
        s = self.keys.scheduler
        pipe = self._pipe()
        pipe.smismember(s.entries, list(keys))
        (flags,) = self._run(pipe, s.entries)
        return {k for k, flag in zip(keys, flags, strict=True) if flag}

    def entry_states(self, keys: Sequence[str]) -> list[dict[str, Any]]:
        """The fire state of each entry: ``key``, ``next``, ``last_tick``, ``last_at``,
        ``missed`` (no descriptions: cheap enough for every entry at scrape time)."""
        s = self.keys.scheduler
        pipe = self._pipe()
        for key in keys:
            pipe.hmget(s.entry(key), "next", "last_tick", "last_at", "missed")
        try:
            rows = pipe.execute(raise_on_error=False)
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.cfg, exc) from None
        out = []
        for key, row in zip(keys, rows, strict=True):
            if isinstance(row, Exception):
                continue
            nxt, tick, at, missed = row
            out.append(
                {
                    "key": key,
                    "next": _num(nxt),
                    "last_tick": _num(tick),
                    "last_at": _num(at),
                    "missed": _int(missed),
                }
            )
        return out

    def redis_info(self, scan_limit: int = 10000) -> dict[str, Any]:
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
            dbsize = sum(_int(v) for v in dbsize.values())
        mode = "sentinel" if self.cfg.sentinel is not None else str(info.get("redis_mode", ""))
        if self.cfg.cluster:
            mode = "cluster"
        return {
            "version": str(info.get("redis_version", "")),
            "mode": mode or "standalone",
            "address": self.cfg.address,
            "uptime": _int(info.get("uptime_in_seconds")),
            "used_memory": _int(info.get("used_memory")),
            "used_memory_human": str(info.get("used_memory_human", "")),
            "used_memory_peak": _int(info.get("used_memory_peak")),
            "maxmemory": _int(info.get("maxmemory")),
            "maxmemory_policy": str(info.get("maxmemory_policy", "")),
            "connected_clients": _int(info.get("connected_clients")),
            "blocked_clients": _int(info.get("blocked_clients")),
            "ops_per_sec": _int(info.get("instantaneous_ops_per_sec")),
            "dbsize": _int(dbsize),
            "prefix": self.keys.prefix,
            "keys": counted,
            "keys_more": counted >= scan_limit,
            "role": str(info.get("role", "")),
        }


def _json_object(raw: Any) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _matches(msg: Any, error: Any, needle: str, where: str) -> bool:
    """Whether a task's payload or error contains ``needle`` (lower case)."""
    if where in ("error", "any") and error is not None and needle in _s(error).lower():
        return True
    if where not in ("payload", "any"):
        return False
    text = _s(msg)
    plain = needle.isascii() and '"' not in needle and "\\" not in needle
    if plain and needle not in text.lower():  # the cheap test first; most tasks stop here
        return False
    try:
        payload = json.loads(text).get("payload")
    except (ValueError, AttributeError):
        return False
    shown = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return needle in shown.lower()


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

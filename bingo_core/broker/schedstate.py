"""The scheduler's state in Redis: the fenced leader lease, each entry's fire state and
enqueue history, and the last ``sys_crontab`` sync status.

Keys (``S`` is ``Keys.scheduler_prefix``, ``P:scheduler``):

=========================  ======  =====================================================
``S:leader``               string  the leader's daemon id, with the lease TTL
``S:epoch``                string  fencing token, INCR at each acquisition of the lease
``S:entries``              set     entry keys published by the leader
``S:entry:<entry key>``    hash    ``info`` (JSON), ``fp``, ``next``, ``missed``,
                                   ``last_tick``, ``last_task``, ``last_at``
``S:cursors``              hash    entry key -> the last tick a leader handled (fired
                                   or skipped): where the next leader resumes
``S:history:<entry key>``  list    newest first, capped: one JSON item per tick handled
``S:sync``                 string  JSON: the last sync status (row errors) and who wrote it
=========================  ======  =====================================================

:class:`SchedState` (asyncio) serves the scheduler; every write of the leader is one Lua
script that first checks the lease and its token, so a daemon that lost the lease cannot
write. :class:`SchedStateReader` (synchronous) serves ``cron list`` and the dashboard.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from typing import Any

from . import connection
from .broker import CONNECTION_ERRORS, AsyncBroker, Broker

#: Most entries one publish or record script call carries.
CHUNK = 500
SCRIPTS = ("sched_acquire", "sched_renew", "sched_release", "sched_publish", "sched_record")


def _sources() -> dict[str, str]:
    folder = resources.files(__package__).joinpath("lua")
    return {name: folder.joinpath(f"{name}.lua").read_text() for name in SCRIPTS}


SOURCES = _sources()


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _num(value: Any) -> float | None:
    if value is None or value in (b"", ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class SchedKeys:
    """Key builders of the scheduler state under ``prefix`` (``P:scheduler``)."""

    prefix: str

    @cached_property
    def leader(self) -> str:
        return f"{self.prefix}:leader"

    @cached_property
    def epoch(self) -> str:
        return f"{self.prefix}:epoch"

    @cached_property
    def entries(self) -> str:
        return f"{self.prefix}:entries"

    @cached_property
    def cursors(self) -> str:
        return f"{self.prefix}:cursors"

    @cached_property
    def sync(self) -> str:
        return f"{self.prefix}:sync"

    def entry(self, key: str) -> str:
        return f"{self.prefix}:entry:{key}"

    def history(self, key: str) -> str:
        return f"{self.prefix}:history:{key}"


@dataclass(slots=True)
class Published:
    """One entry as the leader publishes it: its key, description and fingerprint."""

    key: str
    info: dict[str, Any]
    fingerprint: str


@dataclass(slots=True)
class Record:
    """What the leader did with one entry in one round; ``None`` leaves a field as is."""

    key: str
    cursor: float | None = None
    next: float | None = None
    missed: int = 0
    last_tick: float | None = None
    last_task: str = ""
    last_at: float | None = None
    history: dict[str, Any] | None = None


def _opt(value: float | None) -> str:
    return "" if value is None else repr(value)


class SchedState:
    """Scheduler state operations for one daemon (asyncio)."""

    def __init__(self, broker: AsyncBroker, daemon_id: str) -> None:
        self.broker = broker
        self.redis = broker.redis
        self.daemon_id = daemon_id
        self.keys = SchedKeys(broker.keys.scheduler_prefix)
        self._scripts = {name: self.redis.register_script(src) for name, src in SOURCES.items()}

    @property
    def address(self) -> str:
        """The Redis address, for log lines."""
        return str(self.broker.cfg.address)

    # -- the lease ------------------------------------------------------------------------
    async def acquire(self, ttl: float) -> tuple[bool, int]:
        """Try to take the lease: ``(True, token)`` or ``(False, ms until it frees up)``."""
        ok, value = await self._scripts["sched_acquire"](
            keys=[self.keys.leader, self.keys.epoch], args=[self.daemon_id, _ms(ttl)]
        )
        return bool(ok), int(value)

    async def renew(self, token: int, ttl: float) -> bool:
        """Extend the lease; False when it is no longer this daemon's."""
        ok = await self._scripts["sched_renew"](
            keys=[self.keys.leader, self.keys.epoch], args=[self.daemon_id, token, _ms(ttl)]
        )
        return bool(ok)

    async def release(self, token: int) -> bool:
        """Give the lease up so another daemon takes over at once."""
        ok = await self._scripts["sched_release"](
            keys=[self.keys.leader, self.keys.epoch], args=[self.daemon_id, token]
        )
        return bool(ok)

    # -- entries --------------------------------------------------------------------------
    async def publish(
        self, token: int, entries: Sequence[Published], removed: Sequence[str]
    ) -> bool:
        """Publish ``entries`` and drop every state of ``removed`` (fenced); False when
        the lease is no longer this daemon's. Large sets go in chunks of :data:`CHUNK`
        entries, one script call each, so Redis never blocks long."""
        for start in range(0, max(len(entries), 1), CHUNK):
            part = entries[start : start + CHUNK]
            gone = removed if start == 0 else ()
            keys = [self.keys.leader, self.keys.epoch, self.keys.entries, self.keys.cursors]
            args: list[Any] = [self.daemon_id, token, len(part)]
            for p in part:
                keys.append(self.keys.entry(p.key))
                args += (p.key, json.dumps(p.info, separators=(",", ":")), p.fingerprint)
            for key in gone:
                keys += (self.keys.entry(key), self.keys.history(key))
                args.append(key)
            if not await self._scripts["sched_publish"](keys=keys, args=args):
                return False
        return True

    async def published_keys(self) -> set[str]:
        """Every entry key currently published."""
        return {_s(k) for k in await self.redis.smembers(self.keys.entries)}

    async def cursors(self, keys: Sequence[str]) -> list[float | None]:
        """The last tick handled of each entry (None when it has none)."""
        out: list[float | None] = []
        for start in range(0, len(keys), 10 * CHUNK):
            values = await self.redis.hmget(
                self.keys.cursors, list(keys[start : start + 10 * CHUNK])
            )
            out += (_num(v) for v in values)
        return out

    async def record(self, token: int, records: Sequence[Record], history_size: int) -> bool:
        """Write what the leader did with due ticks (fenced, in chunks of :data:`CHUNK`);
        False when the lease is no longer this daemon's."""
        for start in range(0, len(records), CHUNK):
            keys = [self.keys.leader, self.keys.epoch, self.keys.cursors]
            args: list[Any] = [self.daemon_id, token, max(1, history_size)]
            for r in records[start : start + CHUNK]:
                keys += (self.keys.entry(r.key), self.keys.history(r.key))
                args += (
                    r.key,
                    _opt(r.cursor),
                    _opt(r.next),
                    str(r.missed) if r.missed else "",
                    _opt(r.last_tick),
                    r.last_task,
                    _opt(r.last_at),
                    json.dumps(r.history, separators=(",", ":")) if r.history else "",
                )
            if not await self._scripts["sched_record"](keys=keys, args=args):
                return False
        return True

    async def dedupe_owners(self, dedupe_keys: Sequence[str]) -> list[str | None]:
        """The task id each tick dedupe key holds (the task that daemon enqueued)."""
        if not dedupe_keys:
            return []
        values = await self.redis.mget(list(dedupe_keys))
        return [None if v is None else _s(v) for v in values]

    async def publish_sync(self, status: dict[str, Any]) -> None:
        """Store the last sync status (row errors, database health) for readers."""
        await self.redis.set(self.keys.sync, json.dumps(status, separators=(",", ":"), default=str))


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _decode_entry(key: str, raw: dict[Any, Any]) -> dict[str, Any]:
    data = {_s(k): _s(v) for k, v in raw.items()}
    try:
        info = json.loads(data.get("info", "{}"))
    except ValueError:
        info = {}
    missed = data.get("missed")
    return {
        "key": key,
        **info,
        "next_fire": _num(data.get("next")),
        "last_fire": _num(data.get("last_tick")),
        "last_task_id": data.get("last_task") or None,
        "last_enqueued_at": _num(data.get("last_at")),
        "missed": int(missed) if missed else 0,
    }


class SchedStateReader:
    """Read the scheduler state (``cron list``, the dashboard); synchronous."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.keys = SchedKeys(broker.keys.scheduler_prefix)

    def _run(self, pipe: Any) -> list[Any]:
        try:
            return list(pipe.execute())
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.broker.cfg, exc) from None

    def leader(self) -> dict[str, Any]:
        """``{"id": daemon id or None, "epoch": token, "ttl": seconds left or None}``."""
        pipe = self.broker.redis.pipeline(transaction=False)
        pipe.get(self.keys.leader)
        pipe.get(self.keys.epoch)
        pipe.pttl(self.keys.leader)
        leader, epoch, pttl = self._run(pipe)
        return {
            "id": None if leader is None else _s(leader),
            "epoch": int(epoch) if epoch is not None else 0,
            "ttl": pttl / 1000 if leader is not None and pttl >= 0 else None,
        }

    def entry_keys(self) -> list[str]:
        pipe = self.broker.redis.pipeline(transaction=False)
        pipe.smembers(self.keys.entries)
        (members,) = self._run(pipe)
        return sorted(_s(k) for k in members)

    def entries(self, keys: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Each published entry: source, name, spec, timezone, type, queue, misfire grace,
        next and last fire (epoch s), last task id, missed ticks; sorted by key."""
        wanted = sorted(keys) if keys is not None else self.entry_keys()
        pipe = self.broker.redis.pipeline(transaction=False)
        for key in wanted:
            pipe.hgetall(self.keys.entry(key))
        rows = self._run(pipe) if wanted else []
        return [_decode_entry(k, r) for k, r in zip(wanted, rows, strict=True) if r]

    def history(self, key: str, limit: int = 100) -> list[dict[str, Any]]:
        """The entry's enqueue history, newest first: tick, task id, enqueued at, lateness
        (or ``missed`` / ``error`` items)."""
        pipe = self.broker.redis.pipeline(transaction=False)
        pipe.lrange(self.keys.history(key), 0, max(0, limit - 1))
        (items,) = self._run(pipe)
        out = []
        for item in items:
            try:
                out.append(json.loads(item))
            except ValueError:
                continue
        return out

    def sync_status(self) -> dict[str, Any] | None:
        """The last published ``sys_crontab`` sync status, or None when none was."""
        pipe = self.broker.redis.pipeline(transaction=False)
        pipe.get(self.keys.sync)
        (raw,) = self._run(pipe)
        if raw is None:
            return None
        try:
            data: dict[str, Any] = json.loads(raw)
        except ValueError:
            return None
        return data

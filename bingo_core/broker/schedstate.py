"""The scheduler's side of the data layer: the fenced leader lease, each entry's fire
state and enqueue history, and the last ``sys_crontab`` sync status.

Keys (:class:`~.keys.SchedulerKeys`, all ``P:{scheduler}:...``, one Cluster slot):

=========================  ======  =====================================================
``leader``                 string  the leader's daemon id, with the lease TTL
``epoch``                  string  fencing token, INCR at each acquisition of the lease
``entries``                set     entry keys published by the leader
``entry:<entry key>``      hash    ``info`` (JSON), ``fp``, ``next``, ``missed``,
                                   ``last_tick``, ``last_task``, ``last_at``
``cursors``                hash    entry key -> the last tick a leader handled (fired
                                   or skipped): where the next leader resumes
``history:<entry key>``    list    newest first, capped: one JSON item per tick handled
``sync``                   string  JSON: the last sync status (row errors) and who wrote it
=========================  ======  =====================================================

:class:`SchedState` (asyncio) serves the scheduler; every write of the leader is one Lua
script that first checks the lease and its token, so a daemon that lost the lease cannot
write. The readers (``cron list``, the dashboard) are in :mod:`.reader`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..records import EntryInfo, HistoryItem, SyncStatus
from . import scripts
from .async_broker import AsyncBroker

#: Most entries one publish or record script call carries.
CHUNK = 500


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _num(value: Any) -> float | None:
    if value is None or value in (b"", ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@dataclass(slots=True)
class Published:
    """One entry as the leader publishes it: its key, description and fingerprint."""

    key: str
    info: EntryInfo
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
    history: HistoryItem | None = None


def _opt(value: float | None) -> str:
    return "" if value is None else repr(value)


class SchedState:
    """Scheduler state operations for one daemon (asyncio)."""

    def __init__(self, broker: AsyncBroker, daemon_id: str) -> None:
        self.broker = broker
        self.daemon_id = daemon_id
        self.keys = broker.keys.scheduler

    @property
    def address(self) -> str:
        """The Redis address, for log lines."""
        return str(self.broker.cfg.address)

    # -- the lease ------------------------------------------------------------------------
    async def acquire(self, ttl: float) -> tuple[bool, int]:
        """Try to take the lease: ``(True, token)`` or ``(False, ms until it frees up)``."""
        ok, value = await self.broker.run(
            scripts.sched_acquire(self.keys, self.daemon_id, _ms(ttl))
        )
        return bool(ok), int(value)

    async def renew(self, token: int, ttl: float) -> bool:
        """Extend the lease; False when it is no longer this daemon's."""
        call = scripts.sched_renew(self.keys, self.daemon_id, token, _ms(ttl))
        return bool(await self.broker.run(call))

    async def release(self, token: int) -> bool:
        """Give the lease up so another daemon takes over at once."""
        return bool(await self.broker.run(scripts.sched_release(self.keys, self.daemon_id, token)))

    # -- entries --------------------------------------------------------------------------
    async def publish(
        self, token: int, entries: Sequence[Published], removed: Sequence[str]
    ) -> bool:
        """Publish ``entries`` and drop every state of ``removed`` (fenced); False when
        the lease is no longer this daemon's. Large sets go in chunks of :data:`CHUNK`
        entries, one script call each, so Redis never blocks long."""
        for start in range(0, max(len(entries), 1), CHUNK):
            part = [
                (p.key, json.dumps(p.info.to_json(), separators=(",", ":")), p.fingerprint)
                for p in entries[start : start + CHUNK]
            ]
            gone = removed if start == 0 else ()
            call = scripts.sched_publish(self.keys, self.daemon_id, token, part, gone)
            if not await self.broker.run(call):
                return False
        return True

    async def published_keys(self) -> set[str]:
        """Every entry key currently published."""
        return {_s(k) for k in await self.broker.redis.smembers(self.keys.entries)}

    async def cursors(self, keys: Sequence[str]) -> list[float | None]:
        """The last tick handled of each entry (None when it has none)."""
        out: list[float | None] = []
        for start in range(0, len(keys), 10 * CHUNK):
            values = await self.broker.redis.hmget(
                self.keys.cursors, list(keys[start : start + 10 * CHUNK])
            )
            out += (_num(v) for v in values)
        return out

    async def record(self, token: int, records: Sequence[Record], history_size: int) -> bool:
        """Write what the leader did with due ticks (fenced, in chunks of :data:`CHUNK`);
        False when the lease is no longer this daemon's."""
        for start in range(0, len(records), CHUNK):
            part = [
                (
                    r.key,
                    [
                        _opt(r.cursor),
                        _opt(r.next),
                        str(r.missed) if r.missed else "",
                        _opt(r.last_tick),
                        r.last_task,
                        _opt(r.last_at),
                        (
                            json.dumps(r.history.to_json(), separators=(",", ":"))
                            if r.history
                            else ""
                        ),
                    ],
                )
                for r in records[start : start + CHUNK]
            ]
            call = scripts.sched_record(self.keys, self.daemon_id, token, history_size, part)
            if not await self.broker.run(call):
                return False
        return True

    async def publish_sync(self, status: SyncStatus) -> None:
        """Store the last sync status (row errors, database health) for readers."""
        await self.broker.redis.set(
            self.keys.sync, json.dumps(status.to_json(), separators=(",", ":"), default=str)
        )


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))

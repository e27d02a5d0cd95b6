"""Records of the scheduler: the lease, entries, history, the sync status."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .base import Record, to_json


@dataclass(frozen=True, slots=True)
class Lease(Record):
    """The scheduler's leader lease: the leader's daemon id (None: no leader), the
    fencing token and the seconds left (None: no lease)."""

    id: str | None
    epoch: int
    ttl: float | None


@dataclass(frozen=True, slots=True)
class Leader(Lease):
    """The leader lease and since when (epoch s) the samplers saw it held with this token
    (None before one noticed)."""

    since: float | None = None


@dataclass(frozen=True, slots=True)
class EntryInfo(Record):
    """What the leader publishes of an entry besides its fire state: name, source, spec,
    time zone ("" for ``@every``), task type, queue and misfire grace (s)."""

    name: str
    source: str
    spec: str
    timezone: str
    type: str
    queue: str
    misfire_grace: float


@dataclass(frozen=True, slots=True)
class HistoryItem(Record):
    """One tick an entry's leader handled: enqueued (task id, when, lateness s; taken by
    another leader), refused (error) or missed (how many, from, to)."""

    OMIT_NONE = frozenset(
        {"tick", "task_id", "enqueued_at", "lateness", "by_other", "error", "missed", "from_"}
        | {"to"}
    )
    JSON_NAMES = {"from_": "from"}

    tick: float | None = None
    task_id: str | None = None
    enqueued_at: float | None = None
    lateness: float | None = None
    by_other: bool | None = None
    error: str | None = None
    missed: int | None = None
    from_: float | None = None
    to: float | None = None


@dataclass(frozen=True, slots=True)
class ScheduleEntry(Record):
    """A published schedule entry: key, description (name, source, spec, time zone, task
    type, queue, misfire grace), next and last fire (epoch s), last task and when it was
    enqueued, missed ticks, and its history when asked."""

    OMIT_NONE = frozenset(
        {"name", "source", "spec", "timezone", "type", "queue", "misfire_grace", "history"}
    )

    key: str
    name: str | None = None
    source: str | None = None
    spec: str | None = None
    timezone: str | None = None
    type: str | None = None
    queue: str | None = None
    misfire_grace: float | None = None
    next_fire: float | None = None
    last_fire: float | None = None
    last_task_id: str | None = None
    last_enqueued_at: float | None = None
    missed: int = 0
    history: list[HistoryItem] | None = None


@dataclass(frozen=True, slots=True)
class EntryState(Record):
    """An entry's fire state: next fire, last tick, last enqueue (epoch s), missed."""

    key: str
    next: float | None
    last_tick: float | None
    last_at: float | None
    missed: int


@dataclass(frozen=True, slots=True)
class SyncRow(Record):
    """A ``sys_crontab`` row as the sync saw it (its state: active, disabled, error)."""

    id: int
    name: str
    type: str
    spec: str
    status: int
    state: str
    error: str | None = None
    key: str | None = None


@dataclass(frozen=True, slots=True)
class SyncStatus(Record):
    """The last ``sys_crontab`` sync status the leader published: timings, rounds, rows,
    row errors (row id -> error), database health, the daemon and the static entries'
    errors."""

    #: What only a running sync reports: left out of the JSON when no sync ran yet
    #: (``rounds`` is None), kept (even when None) once one did.
    OMIT_NONE = frozenset(
        {
            "last_sync",
            "last_success",
            "duration",
            "interval",
            "rounds",
            "full_reads",
            "last_full_read",
            "rows",
            "active",
            "database",
        }
    )

    last_sync: float | None = None
    last_success: float | None = None
    duration: float | None = None
    interval: float | None = None
    rounds: int | None = None
    full_reads: int | None = None
    last_full_read: float | None = None
    rows: list[SyncRow] | int | None = None
    active: int | None = None
    errors: dict[str, str] | None = None
    db_ok: bool | None = None
    db_error: str | None = None
    database: str | None = None
    daemon: str | None = None
    static_errors: list[str] | None = None
    published_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The status as published (the sync's own figures only once it runs)."""
        out = {f.name: to_json(getattr(self, f.name)) for f in dataclasses.fields(self)}
        if self.rounds is None:
            for name in self.OMIT_NONE:
                out.pop(name, None)
        return out

    @property
    def healthy(self) -> bool:
        """Whether the database answered (true when not said)."""
        return self.db_ok is not False


@dataclass(frozen=True, slots=True)
class Schedules(Record):
    """The scheduler's published state: the lease, the entries, the sync status."""

    leader: Lease
    entries: list[ScheduleEntry]
    sync: SyncStatus | None


@dataclass(frozen=True, slots=True)
class SchedulePage(Record):
    """A page of the published entries: how many match, the page, the leader and the
    sync status."""

    total: int
    offset: int
    limit: int
    entries: list[ScheduleEntry]
    leader: Leader
    sync: SyncStatus | None

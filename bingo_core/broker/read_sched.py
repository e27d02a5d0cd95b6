"""The read side's scheduler reads: the leader lease, the published entries with their
fire state and history, and the last ``sys_crontab`` sync status (see
:mod:`.schedstate` for the keys)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

# The records load with the first read that makes one (see ..records): not with the
# read side, which ``stats`` builds.
from .. import records
from .read_base import ReadBase, integer, json_object, number, text

if TYPE_CHECKING:
    from ..records import (
        EntryState,
        HistoryItem,
        Leader,
        Lease,
        ScheduleEntry,
        SyncRow,
        SyncStatus,
    )


class SchedulerReads(ReadBase):
    """Reads of the scheduler's state (see :class:`~.reader.Reader`)."""

    def leader(self) -> Lease:
        """The leader lease: daemon id (None: none), fencing token, seconds left."""
        s = self.keys.scheduler
        pipe = self._pipe()
        pipe.get(s.leader)
        pipe.get(s.epoch)
        pipe.pttl(s.leader)
        leader, epoch, pttl = self._run(pipe, s.leader)
        return records.Lease(
            id=None if leader is None else text(leader),
            epoch=integer(epoch),
            ttl=pttl / 1000 if leader is not None and pttl >= 0 else None,
        )

    def leader_since(self) -> Leader | None:
        """The leader id, epoch and since when (epoch s), as the sampler last noted them."""
        s = self.keys.scheduler
        pipe = self._pipe()
        pipe.get(s.leader_since)
        (raw,) = self._run(pipe, s.leader_since)
        data = json_object(raw)
        epoch = None if data is None else _opt_num(data.get("epoch"))
        if data is None or epoch is None:
            return None
        leader = data.get("id")
        return records.Leader(
            id=None if leader is None else str(leader),
            epoch=int(epoch),
            ttl=None,
            since=number(data.get("since")),
        )

    def entry_keys(self) -> list[str]:
        """Every published schedule entry key, sorted."""
        s = self.keys.scheduler
        pipe = self._pipe()
        pipe.smembers(s.entries)
        (members,) = self._run(pipe, s.entries)
        return sorted(text(k) for k in members)

    def entries(self, keys: Iterable[str] | None = None) -> list[ScheduleEntry]:
        """Each published entry: description, next and last fire, last task, missed
        ticks; sorted by key."""
        s = self.keys.scheduler
        wanted = sorted(keys) if keys is not None else self.entry_keys()
        if not wanted:
            return []
        pipe = self._pipe()
        for key in wanted:
            pipe.hgetall(s.entry(key))
        rows = self._run_each(pipe)
        return [
            decode_entry(k, r)
            for k, r in zip(wanted, rows, strict=True)
            if r and not isinstance(r, Exception)
        ]

    def history(self, key: str, limit: int = 100) -> list[HistoryItem]:
        """The entry's enqueue history, newest first: enqueued, refused or missed ticks."""
        s = self.keys.scheduler
        pipe = self._pipe()
        pipe.lrange(s.history(key), 0, max(0, limit - 1))
        (items,) = self._run(pipe, s.history(key))
        out = []
        for item in items:
            data = json_object(item)
            if data is not None:
                out.append(decode_history(data))
        return out

    def sync_status(self) -> SyncStatus | None:
        """The last published ``sys_crontab`` sync status, or None when none was."""
        s = self.keys.scheduler
        pipe = self._pipe()
        pipe.get(s.sync)
        (raw,) = self._run(pipe, s.sync)
        data = json_object(raw)
        return None if data is None else decode_sync(data)

    def published(self, keys: Sequence[str]) -> set[str]:
        """Those of ``keys`` that are published schedule entries (one ``SMISMEMBER``)."""
        if not keys:
            return set()
        s = self.keys.scheduler
        pipe = self._pipe()
        pipe.smismember(s.entries, list(keys))
        (flags,) = self._run(pipe, s.entries)
        return {k for k, flag in zip(keys, flags, strict=True) if flag}

    def entry_states(self, keys: Sequence[str]) -> list[EntryState]:
        """The fire state of each entry (no descriptions: cheap enough for every entry at
        scrape time)."""
        s = self.keys.scheduler
        pipe = self._pipe()
        for key in keys:
            pipe.hmget(s.entry(key), "next", "last_tick", "last_at", "missed")
        rows = self._run_each(pipe)
        out = []
        for key, row in zip(keys, rows, strict=True):
            if isinstance(row, Exception):
                continue
            nxt, tick, at, missed = row
            out.append(
                records.EntryState(key, number(nxt), number(tick), number(at), integer(missed))
            )
        return out


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _opt_num(value: Any) -> float | None:
    return None if isinstance(value, bool) else number(value)


def _opt_int(value: Any) -> int | None:
    found = _opt_num(value)
    return None if found is None else int(found)


def decode_entry(key: str, raw: dict[Any, Any]) -> ScheduleEntry:
    """An entry's hash (``info`` JSON and fire state) as a :class:`ScheduleEntry`."""
    data = {text(k): text(v) for k, v in raw.items()}
    try:
        info = json.loads(data.get("info", "{}"))
    except ValueError:
        info = {}
    if not isinstance(info, dict):
        info = {}
    return records.ScheduleEntry(
        key=key,
        name=_opt_str(info.get("name")),
        source=_opt_str(info.get("source")),
        spec=_opt_str(info.get("spec")),
        timezone=_opt_str(info.get("timezone")),
        type=_opt_str(info.get("type")),
        queue=_opt_str(info.get("queue")),
        misfire_grace=_opt_num(info.get("misfire_grace")),
        next_fire=number(data.get("next")),
        last_fire=number(data.get("last_tick")),
        last_task_id=data.get("last_task") or None,
        last_enqueued_at=number(data.get("last_at")),
        missed=integer(data.get("missed")),
    )


def decode_history(data: dict[str, Any]) -> HistoryItem:
    """One history item (JSON object) as a :class:`HistoryItem`."""
    by_other = data.get("by_other")
    return records.HistoryItem(
        tick=_opt_num(data.get("tick")),
        task_id=_opt_str(data.get("task_id")),
        enqueued_at=_opt_num(data.get("enqueued_at")),
        lateness=_opt_num(data.get("lateness")),
        by_other=by_other if isinstance(by_other, bool) else None,
        error=_opt_str(data.get("error")),
        missed=_opt_int(data.get("missed")),
        from_=_opt_num(data.get("from")),
        to=_opt_num(data.get("to")),
    )


def _sync_rows(value: Any) -> list[SyncRow] | int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, list):
        return None
    out = []
    for row in value:
        if isinstance(row, dict):
            out.append(
                records.SyncRow(
                    id=_opt_int(row.get("id")) or 0,
                    name=str(row.get("name", "")),
                    type=str(row.get("type", "")),
                    spec=str(row.get("spec", "")),
                    status=_opt_int(row.get("status")) or 0,
                    state=str(row.get("state", "")),
                    error=_opt_str(row.get("error")),
                    key=_opt_str(row.get("key")),
                )
            )
    return out


def decode_sync(data: dict[str, Any]) -> SyncStatus:
    """The published sync status (JSON object) as a :class:`SyncStatus`."""
    errors = data.get("errors")
    static = data.get("static_errors")
    db_ok = data.get("db_ok")
    return records.SyncStatus(
        last_sync=_opt_num(data.get("last_sync")),
        last_success=_opt_num(data.get("last_success")),
        duration=_opt_num(data.get("duration")),
        interval=_opt_num(data.get("interval")),
        rounds=_opt_int(data.get("rounds")),
        full_reads=_opt_int(data.get("full_reads")),
        last_full_read=_opt_num(data.get("last_full_read")),
        rows=_sync_rows(data.get("rows")),
        active=_opt_int(data.get("active")),
        errors={str(k): str(v) for k, v in errors.items()} if isinstance(errors, dict) else None,
        db_ok=db_ok if isinstance(db_ok, bool) else None,
        db_error=_opt_str(data.get("db_error")),
        database=_opt_str(data.get("database")),
        daemon=_opt_str(data.get("daemon")),
        static_errors=[str(e) for e in static] if isinstance(static, list) else None,
        published_at=_opt_num(data.get("published_at")),
    )

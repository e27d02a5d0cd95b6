"""The Lua scripts in ``lua/``, read once, and the argument lists each one takes.

Each builder returns ``(script name, keys, args)``; :mod:`.broker` and :mod:`.schedstate`
run them on a sync or asyncio client. The header comment of each ``.lua`` file documents
its KEYS and ARGV. Every key a script touches is in its KEYS; where a script reaches keys
it only learns inside (the task hashes of ids it pops, a deleted task's unique lock), the
queue's tagged key prefix is in KEYS, so every call maps to one Cluster slot.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from importlib import resources
from typing import Any

from .keys import QueueKeys, SchedulerKeys

NAMES = (
    "enqueue",
    "enqueue_fast",
    "fetch",
    "ack",
    "retry",
    "archive",
    "requeue",
    "recover",
    "task_move",
    "queue_delete",
    "stats_record",
    "sched_acquire",
    "sched_renew",
    "sched_release",
    "sched_publish",
    "sched_record",
    "task_move_many",
    "task_cancel",
    "sample_record",
    "leader_seen",
)
DAY_TTL = 90 * 86400
#: How long the per-day task statistics are kept (seconds).
STATS_TTL = 40 * 86400
#: Upper bounds (seconds) of the task duration histogram's buckets; one more bucket above.
DURATION_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    1800.0,
)


def load_sources() -> dict[str, str]:
    """Script name -> Lua source. The scheduler's scripts share one guard
    (``lua/_scheduler_heal.lua``), put before each of them."""
    folder = resources.files(__package__).joinpath("lua")
    heal = folder.joinpath("_scheduler_heal.lua").read_text()
    return {
        name: (heal if name.startswith("sched_") else "")
        + folder.joinpath(f"{name}.lua").read_text()
        for name in NAMES
    }


SOURCES = load_sources()
Call = tuple[str, list[str], list[Any]]

_day_cache: dict[Any, tuple[int, str]] = {}


def today(zone: tzinfo | None = None) -> str:
    """The date (``YYYY-MM-DD``) in ``zone`` (UTC when None) used in the daily counter and
    statistics keys; cached per second."""
    now = int(time.time())
    cached = _day_cache.get(zone)
    if cached is None or cached[0] != now:
        if zone is None:
            day = time.strftime("%Y-%m-%d", time.gmtime(now))
        else:
            day = datetime.fromtimestamp(now, zone).strftime("%Y-%m-%d")
        cached = _day_cache[zone] = (now, day)
    return cached[1]


@dataclass(slots=True)
class Prepared:
    """One task ready for the enqueue script."""

    queue: str
    id: str
    msg: str
    process_at: float = 0.0
    #: Digest of the unique lock ("" = none) and its TTL.
    unique: str = ""
    unique_ttl_ms: int = 0
    #: Scheduler tick dedupe: entry key ("" = none), fire time (ms) and TTL.
    dedupe_entry: str = ""
    dedupe_ms: int = 0
    dedupe_ttl_ms: int = 0
    #: Generated id, run now, no unique lock, no dedupe: takes the fast script.
    simple: bool = False


#: Tasks per enqueue script call; larger batches are split (and pipelined) so one call
#: never blocks Redis for long, and so Redis runs one chunk while the next is encoded.
CHUNK = 250
#: Enqueue codes (a string code is the id of the task that already holds the tick).
ENQUEUED, EXISTS, UNIQUE_HELD = 1, 0, -1
EnqueueCode = int | str


def enqueue(q: QueueKeys, tasks: Sequence[Prepared], now: float) -> Call:
    if all(t.simple for t in tasks):
        fast: list[Any] = []
        for t in tasks:
            fast += (t.id, t.msg)
        return "enqueue_fast", [q.pending, q.notify, q.task_prefix], fast
    keys = [q.pending, q.scheduled, q.notify, q.task_prefix]
    args: list[Any] = [repr(now)]
    for t in tasks:
        u = d = 0
        if t.unique:
            keys.append(q.unique(t.unique))
            u = len(keys)
        if t.dedupe_entry:
            keys.append(q.tick(t.dedupe_entry, t.dedupe_ms))
            d = len(keys)
        args += (t.id, t.msg, repr(t.process_at), u, t.unique_ttl_ms, d, t.dedupe_ttl_ms)
    return "enqueue", keys, args


def enqueue_codes(call: Call, result: Any) -> list[EnqueueCode]:
    """Per-task codes from an enqueue call's result (the fast script returns a count)."""
    if call[0] == "enqueue_fast":
        return [ENQUEUED] * int(result)
    return [c.decode() if isinstance(c, bytes) else c for c in result]


def fetch(q: QueueKeys, n: int, now: float, lease_until: float, worker: str) -> Call:
    return (
        "fetch",
        [q.pending, q.lease, q.paused, q.scheduled, q.retry, q.notify, q.task_prefix, q.archived],
        [now, n, lease_until, worker],
    )


#: One acked task: id, retention (s), unique digest ("" = none), result JSON ("" = none).
AckItem = tuple[str, float, str, str]


def ack(
    q: QueueKeys, items: Iterable[AckItem], worker: str, now: float, day: str | None = None
) -> Call:
    keys = [q.lease, q.completed, q.processed, q.processed_on(day or today()), q.task_prefix]
    plain: list[Any] = []
    other: list[Any] = []
    for task_id, retention, unique, result in items:
        if retention or unique:
            u = 0
            if unique:
                keys.append(q.unique(unique))
                u = len(keys)
            other += (task_id, retention, u, result if retention else "")
        else:
            plain.append(task_id)
    args: list[Any] = [now, worker, DAY_TTL, len(plain), *plain, *other]
    return "ack", keys, args


def _fail_keys(q: QueueKeys, target: str, day: str | None = None) -> list[str]:
    day = day or today()
    return [
        q.lease,
        target,
        q.processed,
        q.processed_on(day),
        q.failed,
        q.failed_on(day),
        q.task_prefix,
    ]


def retry(
    q: QueueKeys,
    task_id: str,
    worker: str,
    at: float,
    error: str,
    now: float,
    day: str | None = None,
) -> Call:
    return "retry", _fail_keys(q, q.retry, day), [task_id, worker, at, error, now, DAY_TTL]


def archive(
    q: QueueKeys,
    task_id: str,
    worker: str,
    error: str,
    now: float,
    max_size: int,
    max_age: float,
    day: str | None = None,
) -> Call:
    return (
        "archive",
        _fail_keys(q, q.archived, day),
        [task_id, worker, error, now, max_size, now - max_age, DAY_TTL],
    )


def requeue(q: QueueKeys, ids: Sequence[str], worker: str) -> Call:
    return "requeue", [q.lease, q.pending, q.notify, q.task_prefix], [worker, *ids]


def recover(q: QueueKeys, now: float, limit: int, error: str) -> Call:
    return (
        "recover",
        [q.lease, q.pending, q.archived, q.notify, q.completed, q.task_prefix],
        [now, limit, error],
    )


def task_move(q: QueueKeys, task_id: str, action: str, now: float) -> Call:
    return (
        "task_move",
        [
            q.pending,
            q.scheduled,
            q.retry,
            q.archived,
            q.completed,
            q.notify,
            q.task_prefix,
            q.unique_prefix,
        ],
        [task_id, action, now],
    )


def queue_delete(q: QueueKeys, force: bool, batch: int) -> Call:
    return (
        "queue_delete",
        [
            q.pending,
            q.lease,
            q.scheduled,
            q.retry,
            q.archived,
            q.completed,
            q.paused,
            q.notify,
            q.processed,
            q.failed,
            q.task_prefix,
        ],
        ["1" if force else "0", batch],
    )


def stats_record(
    q: QueueKeys, day: str, rows: Sequence[tuple[str, int, int, float, float, list[int]]]
) -> Call:
    """``rows``: (type, processed, failed, duration sum, duration max, bucket counts)."""
    args: list[Any] = [STATS_TTL, len(DURATION_BUCKETS) + 1]
    for task_type, processed, failed, total, peak, buckets in rows:
        args += (task_type, processed, failed, repr(total), repr(peak), *buckets)
    return "stats_record", [q.stats_on(day), q.stats_total], args


# -- the scheduler's scripts (all keys tagged {scheduler}) --------------------------------
def sched_acquire(s: SchedulerKeys, daemon_id: str, ttl_ms: int) -> Call:
    return "sched_acquire", [s.leader, s.epoch], [daemon_id, ttl_ms]


def sched_renew(s: SchedulerKeys, daemon_id: str, token: int, ttl_ms: int) -> Call:
    return "sched_renew", [s.leader, s.epoch], [daemon_id, token, ttl_ms]


def sched_release(s: SchedulerKeys, daemon_id: str, token: int) -> Call:
    return "sched_release", [s.leader, s.epoch], [daemon_id, token]


def sched_publish(
    s: SchedulerKeys,
    daemon_id: str,
    token: int,
    entries: Sequence[tuple[str, str, str]],
    removed: Sequence[str],
) -> Call:
    """``entries``: (entry key, info JSON, fingerprint); ``removed``: entry keys."""
    keys = [s.leader, s.epoch, s.entries, s.cursors]
    args: list[Any] = [daemon_id, token, len(entries)]
    for key, info, fp in entries:
        keys.append(s.entry(key))
        args += (key, info, fp)
    for key in removed:
        keys += (s.entry(key), s.history(key))
        args.append(key)
    return "sched_publish", keys, args


def sched_record(
    s: SchedulerKeys,
    daemon_id: str,
    token: int,
    history_size: int,
    records: Sequence[tuple[str, list[Any]]],
) -> Call:
    """``records``: (entry key, its 7 values after the key; see ``sched_record.lua``)."""
    keys = [s.leader, s.epoch, s.cursors]
    args: list[Any] = [daemon_id, token, max(1, history_size)]
    for key, values in records:
        keys += (s.entry(key), s.history(key))
        args += (key, *values)
    return "sched_record", keys, args


# -- the dashboard's scripts ----------------------------------------------------------------
#: Most ids one ``task_move_many`` call carries.
MOVE_CHUNK = 500
#: How long a cancel request is kept for the worker to see (seconds).
CANCEL_KEEP = 3600.0


def task_move_many(q: QueueKeys, ids: Sequence[str], action: str, now: float) -> Call:
    """``action`` ("run", "archive" or "delete") on up to :data:`MOVE_CHUNK` tasks."""
    return (
        "task_move_many",
        [
            q.pending,
            q.scheduled,
            q.retry,
            q.archived,
            q.completed,
            q.notify,
            q.task_prefix,
            q.unique_prefix,
        ],
        [action, now, *ids],
    )


def task_cancel(q: QueueKeys, task_id: str, now: float, keep: float = CANCEL_KEEP) -> Call:
    return "task_cancel", [q.cancel, q.task_prefix], [task_id, now, keep]


def sample_record(key: str, now: float, gap: float, keep: int, sample: str) -> Call:
    """Append ``sample`` (JSON with its time ``t``) to the capped list ``key``."""
    return "sample_record", [key], [now, gap, keep, sample]


def leader_seen(s: SchedulerKeys, now: float) -> Call:
    return "leader_seen", [s.leader, s.epoch, s.leader_since], [now]

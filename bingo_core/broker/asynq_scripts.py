"""The argument lists of the scripts that run a queue in Asynq's layout
(``lua/asynq_*.lua``; the enqueue's is :func:`.scripts.asynq_enqueue`). Each builder
returns ``(script name, keys, args)`` as :mod:`.scripts` does."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .keys import AsynqQueueKeys
from .scripts import Call

#: Asynq's lease (s): a dequeue leases a task this long; the heartbeat extends it.
LEASE = 30
#: Asynq's recoverer takes leases expired longer than this (s) ago.
SKEW = 30
#: Asynq keeps archived tasks this long (s), and at most this many less one.
ARCHIVE_AGE = 90 * 86400
ARCHIVE_SIZE = 10000
#: Daily counters expire this long (s) after their day's first event.
DAY_TTL = 90 * 86400

#: One success: id, retention (s), rewritten msg ("" when not kept), result, unique key.
AsynqAck = tuple[str, int, bytes, bytes, str]


def fetch(q: AsynqQueueKeys, n: int, now: float, now_ns: int, lease_until: int) -> Call:
    keys = [q.pending, q.active, q.lease, q.paused, q.scheduled, q.retry, q.archived]
    return "asynq_fetch", [*keys, q.task_prefix], [int(now), now_ns, n, lease_until]


def ack(q: AsynqQueueKeys, items: Sequence[AsynqAck], now: float, day: str) -> Call:
    keys = [q.active, q.lease, q.completed, q.processed, q.processed_on(day), q.task_prefix]
    args: list[Any] = [int(now), int(now) + DAY_TTL]
    for task_id, retention, msg, result, unique in items:
        u = 0
        if unique:
            keys.append(unique)
            u = len(keys)
        args += (task_id, retention, msg, result, u)
    return "asynq_ack", keys, args


def fail(
    q: AsynqQueueKeys,
    task_id: str,
    msg: bytes,
    at: int,
    archive: bool,
    counted: bool,
    now: float,
    day: str,
) -> Call:
    target = q.archived if archive else q.retry
    keys = [q.active, q.lease, target, q.processed, q.processed_on(day)]
    keys += [q.failed, q.failed_on(day), q.task_prefix]
    state = "archived" if archive else "retry"
    args: list[Any] = [task_id, msg, at, state, int(now) + DAY_TTL, int(counted)]
    return "asynq_fail", keys, [*args, int(now) - ARCHIVE_AGE, ARCHIVE_SIZE]


def requeue(q: AsynqQueueKeys, ids: Sequence[str]) -> Call:
    return "asynq_requeue", [q.active, q.lease, q.pending, q.task_prefix], list(ids)


def expired(q: AsynqQueueKeys, now: float, limit: int) -> Call:
    keys = [q.lease, q.completed, q.task_prefix]
    return "asynq_expired", keys, [int(now) - SKEW, int(now), limit]

"""The Lua scripts in ``lua/``, read once, and the argument lists each one takes.

Each builder returns ``(script name, keys, args)``; :mod:`.broker` runs them on a sync or
asyncio client. The header comment of each ``.lua`` file documents its KEYS and ARGV.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from .keys import QueueKeys

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
)
DAY_TTL = 90 * 86400


def load_sources() -> dict[str, str]:
    """Script name -> Lua source."""
    folder = resources.files(__package__).joinpath("lua")
    return {name: folder.joinpath(f"{name}.lua").read_text() for name in NAMES}


SOURCES = load_sources()
Call = tuple[str, list[str], list[Any]]

_day_cache: list[Any] = [0, ""]


def today() -> str:
    """The UTC date used in the daily counter keys (cached per second)."""
    now = int(time.time())
    if _day_cache[0] != now:
        _day_cache[0] = now
        _day_cache[1] = time.strftime("%Y-%m-%d", time.gmtime(now))
    return str(_day_cache[1])


@dataclass(slots=True)
class Prepared:
    """One task ready for the enqueue script."""

    queue: str
    id: str
    msg: str
    process_at: float = 0.0
    unique_key: str = ""
    unique_ttl_ms: int = 0
    dedupe_key: str = ""
    dedupe_ttl_ms: int = 0
    #: Generated id, run now, no unique lock, no dedupe: takes the fast script.
    simple: bool = False


#: Tasks per enqueue script call; larger batches are split (and pipelined) so one call
#: never blocks Redis for long, and so Redis runs one chunk while the next is encoded.
CHUNK = 250


def enqueue(q: QueueKeys, tasks: Sequence[Prepared], now: float) -> Call:
    if all(t.simple for t in tasks):
        fast: list[Any] = [q.task_prefix]
        for t in tasks:
            fast += (t.id, t.msg)
        return "enqueue_fast", [q.pending, q.notify], fast
    args: list[Any] = [q.task_prefix, repr(now)]
    for t in tasks:
        args += (
            t.id,
            t.msg,
            repr(t.process_at),
            t.unique_key,
            t.unique_ttl_ms,
            t.dedupe_key,
            t.dedupe_ttl_ms,
        )
    return "enqueue", [q.pending, q.scheduled, q.notify], args


def enqueue_codes(call: Call, result: Any) -> list[int]:
    """Per-task codes from an enqueue call's result (the fast script returns a count)."""
    if call[0] == "enqueue_fast":
        return [1] * int(result)
    return [int(c) for c in result]


def fetch(q: QueueKeys, n: int, now: float, lease_until: float, worker: str) -> Call:
    return (
        "fetch",
        [q.pending, q.lease, q.paused, q.scheduled, q.retry, q.notify],
        [q.task_prefix, now, n, lease_until, worker],
    )


def ack(q: QueueKeys, items: Iterable[tuple[str, float, str]], worker: str, now: float) -> Call:
    plain: list[Any] = []
    other: list[Any] = []
    for task_id, retention, unique_key in items:
        if retention or unique_key:
            other += (task_id, retention, unique_key)
        else:
            plain.append(task_id)
    args: list[Any] = [q.task_prefix, now, worker, DAY_TTL, len(plain), *plain, *other]
    return "ack", [q.lease, q.completed, q.processed, q.processed_on(today())], args


def _fail_keys(q: QueueKeys, target: str) -> list[str]:
    day = today()
    return [q.lease, target, q.processed, q.processed_on(day), q.failed, q.failed_on(day)]


def retry(q: QueueKeys, task_id: str, worker: str, at: float, error: str, now: float) -> Call:
    return (
        "retry",
        _fail_keys(q, q.retry),
        [q.task_prefix, task_id, worker, at, error, now, DAY_TTL],
    )


def archive(
    q: QueueKeys,
    task_id: str,
    worker: str,
    error: str,
    now: float,
    max_size: int,
    max_age: float,
) -> Call:
    return (
        "archive",
        _fail_keys(q, q.archived),
        [q.task_prefix, task_id, worker, error, now, max_size, now - max_age, DAY_TTL],
    )


def requeue(q: QueueKeys, ids: Sequence[str], worker: str) -> Call:
    return "requeue", [q.lease, q.pending, q.notify], [q.task_prefix, worker, *ids]


def recover(q: QueueKeys, now: float, limit: int, error: str) -> Call:
    return (
        "recover",
        [q.lease, q.pending, q.archived, q.notify, q.completed],
        [q.task_prefix, now, limit, error],
    )


def task_move(q: QueueKeys, task_id: str, action: str, now: float) -> Call:
    return (
        "task_move",
        [q.pending, q.scheduled, q.retry, q.archived, q.completed, q.notify],
        [q.task_prefix, task_id, action, now],
    )

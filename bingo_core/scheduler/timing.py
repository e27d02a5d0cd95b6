"""Small helpers between compiled entries and the tick loop: epoch fire times, the walk
over the ticks missed since a cursor (the misfire policy), and the description of an entry
the leader publishes."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import CronSpecError
from ..records import EntryInfo

if TYPE_CHECKING:
    from .entries import CompiledEntry
    from .schedule import CronSchedule


def next_fire(schedule: CronSchedule, after: float) -> float | None:
    """The first fire time of ``schedule`` strictly after ``after`` (epoch seconds), or
    None when it never fires again."""
    try:
        return schedule.next_timestamp(after)
    except (ValueError, CronSpecError):  # no fire time left before the end of the calendar
        return None


def zone_name(compiled: CompiledEntry) -> str:
    """The time zone the entry's spec is read in ("" for ``@every``, which ignores it)."""
    return compiled.schedule.zone or ""


def describe(compiled: CompiledEntry, grace: float) -> EntryInfo:
    """What ``cron list`` and the dashboard show of an entry besides its fire state."""
    entry = compiled.entry
    return EntryInfo(
        name=entry.name,
        source=entry.source,
        spec=entry.spec,
        timezone=zone_name(compiled),
        type=compiled.label,
        queue=str(compiled.options.get("queue", "default")),
        misfire_grace=grace,
    )


#: Most missed ticks walked one by one per entry before jumping to the grace window.
MAX_WALK = 1000


@dataclass(slots=True)
class Walk:
    """Where an entry stands at ``now`` given the last tick handled."""

    due: list[float]  # ticks within the grace, to fire late
    missed: int  # ticks older than the grace, skipped
    first_missed: float | None
    last_missed: float | None
    next: float | None  # first tick after now


def walk(schedule: CronSchedule, cursor: float | None, now: float, grace: float) -> Walk:
    """The ticks after ``cursor`` up to ``now``: due ones (within ``grace``), missed ones.

    At most :data:`MAX_WALK` missed ticks are counted one by one; past that the walk jumps
    to the grace window (the count is then a lower bound).
    """
    out = Walk([], 0, None, None, None)
    if cursor is None:
        out.next = next_fire(schedule, now)
        return out
    t = next_fire(schedule, cursor)
    horizon = now - grace
    while t is not None and t < horizon:
        out.missed += 1
        if out.first_missed is None:
            out.first_missed = t
        out.last_missed = t
        if out.missed >= MAX_WALK:
            t = next_fire(schedule, max(t, horizon - 1e-6))
            break
        t = next_fire(schedule, t)
    while t is not None and t <= now:
        out.due.append(t)
        t = next_fire(schedule, t)
    out.next = t
    return out


def fingerprint(compiled: CompiledEntry) -> str:
    """A short digest of everything that changes when the entry is edited."""
    text = compiled.fingerprint()
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16]


def iso(t: float | None) -> str:
    """An epoch time as ISO-8601 UTC with milliseconds (``-`` for None)."""
    if t is None:
        return "-"
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"

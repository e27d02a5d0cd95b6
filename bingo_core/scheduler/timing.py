"""Small helpers between compiled entries and the tick loop: epoch fire times and the
description of an entry the leader publishes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import CronSpecError

if TYPE_CHECKING:
    from .cron import CronSchedule
    from .entries import CompiledEntry


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


def describe(compiled: CompiledEntry, grace: float) -> dict[str, Any]:
    """What ``cron list`` and the dashboard show of an entry besides its fire state."""
    entry = compiled.entry
    return {
        "name": entry.name,
        "source": entry.source,
        "spec": entry.spec,
        "timezone": zone_name(compiled),
        "type": compiled.task_type.name,
        "queue": compiled.options.get("queue", "default"),
        "misfire_grace": grace,
    }

"""The scheduler: cron specs and zones (:mod:`.cron`), static entries (:mod:`.entries`),
the leader lease and tick loop, and the ``sys_crontab`` sync (:mod:`.sync`)."""

from __future__ import annotations

from .cron import CronSchedule, next_fire_times, parse_spec
from .entries import CompiledEntry, compile_all, compile_entry, config_entries

__all__ = [
    "CompiledEntry",
    "CronSchedule",
    "compile_all",
    "compile_entry",
    "config_entries",
    "next_fire_times",
    "parse_spec",
]

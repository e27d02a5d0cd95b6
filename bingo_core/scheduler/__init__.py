"""The scheduler: cron specs (:mod:`.cron` parses, :mod:`.schedule` fires, :mod:`.zones`),
entries (:mod:`.entries`), the ``sys_crontab`` row rules (:mod:`.rows`), the leader lease
and tick loop, and the ``sys_crontab`` sync (:mod:`.sync`).

The names below load on first use: ``cron next`` reads specs (:mod:`.cron`) without the
registry and pydantic that :mod:`.entries` brings.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
_CRON = {"CronSchedule", "next_fire_times", "parse_spec"}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(
        importlib.import_module(".cron" if name in _CRON else ".entries", __name__), name
    )
    globals()[name] = value
    return value

"""Configuration: ``bingo-scheduler.yaml`` + environment + overrides → one :class:`Settings`.

The original service's file loads unchanged (``server``, ``redis``, ``mysql``, ``log``,
``feature``); the sections ``database``, ``worker``, ``scheduler``, ``dashboard``,
``plugins`` and ``schedules`` extend it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .loader import bind_plugin_settings, load_settings
    from .logging import setup_logging
    from .settings import (
        AsynqSettings,
        DashboardSettings,
        DatabaseSettings,
        FeatureSettings,
        LogSettings,
        MysqlSettings,
        ProblemSettings,
        RedisSettings,
        SchedulerSettings,
        SentinelSettings,
        ServerSettings,
        Settings,
        WorkerSettings,
    )


__all__ = [
    "AsynqSettings",
    "DashboardSettings",
    "DatabaseSettings",
    "FeatureSettings",
    "LogSettings",
    "MysqlSettings",
    "ProblemSettings",
    "RedisSettings",
    "SchedulerSettings",
    "SentinelSettings",
    "ServerSettings",
    "Settings",
    "WorkerSettings",
    "bind_plugin_settings",
    "load_settings",
    "setup_logging",
]


def __getattr__(name: str) -> Any:
    # The settings models (pydantic) and the YAML loader load on first use: the command
    # line's --help names the default path (.paths) without them.
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    home = {"bind_plugin_settings": ".loader", "load_settings": ".loader"}.get(name)
    home = home or (".logging" if name == "setup_logging" else ".settings")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value

"""Configuration: ``bingo-scheduler.yaml`` + environment + overrides → one :class:`Settings`.

The original service's file loads unchanged (``server``, ``redis``, ``mysql``, ``log``,
``feature``); the sections ``database``, ``worker``, ``scheduler``, ``dashboard``,
``plugins`` and ``schedules`` extend it.
"""

from __future__ import annotations

from .loader import bind_plugin_settings, load_settings
from .logging import setup_logging
from .settings import (
    DashboardSettings,
    DatabaseSettings,
    FeatureSettings,
    LogSettings,
    MysqlSettings,
    RedisSettings,
    SchedulerSettings,
    SentinelSettings,
    ServerSettings,
    Settings,
    WorkerSettings,
)

__all__ = [
    "DashboardSettings",
    "DatabaseSettings",
    "FeatureSettings",
    "LogSettings",
    "MysqlSettings",
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

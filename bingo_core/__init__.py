"""Bingo Scheduler: cron schedules, Redis task queues and plugin task types.

Plugin authors need only this module::

    import bingo_core as bingo

    @bingo.hookimpl
    def bingo_register_tasks(register: bingo.TaskRegister) -> None: ...

Everything a plugin uses is importable from here: :data:`hookimpl`, :class:`TaskContext`,
the register types, :class:`SkipRetry` and the errors; :class:`Client` and
:class:`AsyncClient` enqueue from any program.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .context import TaskContext
from .errors import (
    BingoError,
    ConfigError,
    CronSpecError,
    DuplicateTaskError,
    OptionError,
    PayloadError,
    RegistrationError,
    ServiceUnavailable,
    SkipRetry,
    TaskNotFound,
    TaskTimeout,
    UniqueTaskError,
    UnknownTaskType,
    UsageError,
)
from .plugins.manager import hookimpl
from .registry import ScheduleRegister, SettingsRegister, TaskRegister

if TYPE_CHECKING:
    from .app import App
    from .client import AsyncClient, Client
    from .message import TaskInfo

__version__ = "0.1.0"
__all__ = [
    "App",
    "AsyncClient",
    "BingoError",
    "Client",
    "ConfigError",
    "CronSpecError",
    "DuplicateTaskError",
    "OptionError",
    "PayloadError",
    "RegistrationError",
    "ScheduleRegister",
    "ServiceUnavailable",
    "SettingsRegister",
    "SkipRetry",
    "TaskContext",
    "TaskInfo",
    "TaskNotFound",
    "TaskRegister",
    "TaskTimeout",
    "UniqueTaskError",
    "UnknownTaskType",
    "UsageError",
    "__version__",
    "hookimpl",
]


def __getattr__(name: str) -> Any:
    # The client pulls in redis; plugins importing bingo_core for hookimpl need not.
    if name in ("Client", "AsyncClient"):
        from . import client

        return getattr(client, name)
    if name == "TaskInfo":
        from .message import TaskInfo

        return TaskInfo
    if name == "App":
        from .app import App

        return App
    raise AttributeError(f"module 'bingo_core' has no attribute {name!r}")

"""Bingo Scheduler: cron schedules, Redis task queues and plugin task types.

Plugin authors need only this module::

    import bingo_core as bingo

    @bingo.hookimpl
    def bingo_register_tasks(register: bingo.TaskRegister) -> None: ...

Everything a plugin uses is importable from here: :data:`hookimpl`, :class:`TaskContext`,
the register types (:class:`MiddlewareRegister` and its :data:`CallNext`),
:class:`SkipRetry` and the errors; :class:`Client` and :class:`AsyncClient` enqueue from
any program.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# First: the console script ignores SIGUSR1 before the imports below (see .process).
from . import process  # noqa: F401

if TYPE_CHECKING:
    from .app import App
    from .batches import Batch
    from .client import AsyncClient, Client
    from .context import TaskContext
    from .errors import (
        BingoError,
        ConfigError,
        CronSpecError,
        DependencyError,
        DuplicateTaskError,
        OptionError,
        PayloadError,
        RegistrationError,
        ServiceUnavailable,
        SkipRetry,
        TaskFailed,
        TaskNotFound,
        TaskTimeout,
        UniqueTaskError,
        UnknownTaskType,
        UsageError,
        WaitTimeout,
    )
    from .message import TaskInfo
    from .plugins.marker import hookimpl
    from .registry import (
        CallNext,
        MiddlewareRegister,
        ScheduleRegister,
        SettingsRegister,
        TaskRegister,
    )
    from .workflow import WorkflowInfo, chain, group, step

__version__ = "0.1.0"
__all__ = [
    "App",
    "AsyncClient",
    "Batch",
    "BingoError",
    "CallNext",
    "Client",
    "ConfigError",
    "CronSpecError",
    "DependencyError",
    "DuplicateTaskError",
    "MiddlewareRegister",
    "OptionError",
    "PayloadError",
    "RegistrationError",
    "ScheduleRegister",
    "ServiceUnavailable",
    "SettingsRegister",
    "SkipRetry",
    "TaskContext",
    "TaskFailed",
    "TaskInfo",
    "TaskNotFound",
    "TaskRegister",
    "TaskTimeout",
    "UniqueTaskError",
    "UnknownTaskType",
    "UsageError",
    "WaitTimeout",
    "WorkflowInfo",
    "__version__",
    "chain",
    "group",
    "hookimpl",
    "step",
]


#: Where each public name lives. Nothing is imported with ``bingo_core`` itself: a plugin
#: module that uses only ``hookimpl`` costs pluggy, and a CLI command pays only for the parts
#: it uses (redis, pydantic and SQLAlchemy each load on first use).
_HOMES = {
    "App": ".app",
    "Client": ".client",
    "AsyncClient": ".client",
    "TaskContext": ".context",
    "TaskInfo": ".message",
    "Batch": ".batches",
    "hookimpl": ".plugins.marker",
    "WorkflowInfo": ".workflow",
    "chain": ".workflow",
    "group": ".workflow",
    "step": ".workflow",
    "CallNext": ".registry",
    "MiddlewareRegister": ".registry",
    "ScheduleRegister": ".registry",
    "SettingsRegister": ".registry",
    "TaskRegister": ".registry",
    **{
        name: ".errors"
        for name in (
            "BingoError",
            "ConfigError",
            "CronSpecError",
            "DependencyError",
            "DuplicateTaskError",
            "OptionError",
            "PayloadError",
            "RegistrationError",
            "ServiceUnavailable",
            "SkipRetry",
            "TaskFailed",
            "TaskNotFound",
            "TaskTimeout",
            "UniqueTaskError",
            "UnknownTaskType",
            "UsageError",
            "WaitTimeout",
        )
    },
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'bingo_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

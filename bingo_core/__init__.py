"""Bingo Scheduler: cron schedules, Redis task queues and plugin task types.

Plugin authors need only this module::

    import bingo_core as bingo

    @bingo.hookimpl
    def bingo_register_tasks(register): ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .context import TaskContext
from .errors import BingoError, PayloadError, SkipRetry, TaskTimeout
from .plugins.manager import hookimpl

if TYPE_CHECKING:
    from .client import AsyncClient, Client
    from .message import TaskInfo

__version__ = "0.1.0"
__all__ = [
    "AsyncClient",
    "BingoError",
    "Client",
    "PayloadError",
    "SkipRetry",
    "TaskContext",
    "TaskInfo",
    "TaskTimeout",
    "__version__",
    "hookimpl",
]
_LAZY = {"Client": "client", "AsyncClient": "client", "TaskInfo": "message"}


def __getattr__(name: str) -> Any:
    # The client pulls in redis; plugins importing bingo_core for hookimpl need not.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'bingo_core' has no attribute {name!r}")

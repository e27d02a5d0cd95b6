"""Bingo Scheduler: cron schedules, Redis task queues and plugin task types.

Plugin authors need only this module::

    import bingo_core as bingo

    @bingo.hookimpl
    def bingo_register_tasks(register): ...
"""

from __future__ import annotations

from .client import AsyncClient, Client
from .errors import BingoError, PayloadError, SkipRetry, TaskTimeout
from .message import TaskInfo
from .plugins.manager import hookimpl
from .worker.context import TaskContext

__version__ = "0.1.0"
__all__ = [
    "AsyncClient", "BingoError", "Client", "PayloadError", "SkipRetry", "TaskContext",
    "TaskInfo", "TaskTimeout", "__version__", "hookimpl",
]

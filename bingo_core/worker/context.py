"""What a handler gets besides its payload."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from ..errors import TaskTimeout

_task_log = logging.getLogger("bingo.task")


class TaskContext:
    """The running task: ids, retry counts, deadline, a logger and a cancellation flag.

    ``cancelled`` turns true when the task's timeout or deadline passes or the worker shuts
    down; a plain ``def`` handler should look at it in long loops (or call
    :meth:`raise_if_cancelled`), an ``async def`` handler is cancelled for it.
    """

    __slots__ = (
        "_cancelled",
        "_logger",
        "deadline",
        "enqueued_at",
        "max_retry",
        "queue",
        "retry_count",
        "settings",
        "task_id",
        "type",
    )

    def __init__(
        self,
        task_id: str,
        type: str,
        queue: str,
        retry_count: int,
        max_retry: int,
        deadline: datetime | None = None,
        settings: Any = None,
        enqueued_at: float | None = None,
    ) -> None:
        self.task_id = task_id
        self.type = type
        self.queue = queue
        self.retry_count = retry_count
        self.max_retry = max_retry
        self.deadline = deadline
        self.settings = settings
        self.enqueued_at = enqueued_at
        self._cancelled = False
        self._logger: logging.LoggerAdapter[logging.Logger] | None = None

    @property
    def cancelled(self) -> bool:
        """True once the task must stop (timeout, deadline or shutdown)."""
        return self._cancelled

    def cancel(self) -> None:
        """Set the cancellation flag (called by the worker)."""
        self._cancelled = True

    def raise_if_cancelled(self) -> None:
        """Raise :class:`TaskTimeout` when the task has been cancelled."""
        if self._cancelled:
            raise TaskTimeout(f"task {self.task_id} was cancelled")

    @property
    def logger(self) -> logging.LoggerAdapter[logging.Logger]:
        """A logger whose records carry the task id, type and queue."""
        if self._logger is None:
            self._logger = logging.LoggerAdapter(
                _task_log, {"task_id": self.task_id, "task_type": self.type, "queue": self.queue}
            )
        return self._logger

    @staticmethod
    def deadline_from(epoch: float | None) -> datetime | None:
        return None if epoch is None else datetime.fromtimestamp(epoch, tz=UTC)

    def __repr__(self) -> str:
        return f"TaskContext(task_id={self.task_id!r}, type={self.type!r}, queue={self.queue!r})"

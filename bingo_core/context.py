"""What a handler gets besides its payload: :class:`TaskContext`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any

from .errors import TaskTimeout
from .records.progress import TaskProgress

_task_log = logging.getLogger("bingo.task")


def _no_db() -> Any:
    raise RuntimeError("no database is configured for this context")


class TaskContext:
    """The running task: ids, retry counts, deadline, a logger, a cancellation flag, the
    server's time zone, the plugin's settings and the database.

    ``cancelled`` turns true when the task's timeout or deadline passes or the worker shuts
    down; a plain ``def`` handler should look at it in long loops (or call
    :meth:`raise_if_cancelled`), an ``async def`` handler is cancelled for it.

    ``db()`` opens a SQLAlchemy session on the configured store (``database.url``, the
    ``mysql`` section, or SQLite under ``storage/``)::

        with ctx.db() as session:
            session.execute(...)
            session.commit()

    The engine is created on first use and disposed when the daemon stops.
    """

    __slots__ = (
        "_app",
        "_cancelled",
        "_logger",
        "_progress",
        "db",
        "deadline",
        "duration",
        "enqueued_at",
        "headers",
        "max_retry",
        "parents",
        "queue",
        "retry_count",
        "settings",
        "started_at",
        "task_id",
        "timezone",
        "type",
        "workflow_id",
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
        timezone: tzinfo = UTC,
        db: Callable[[], Any] = _no_db,
        app: Any = None,
    ) -> None:
        #: The task's id.
        self.task_id = task_id
        #: The task type, e.g. ``task:daily-report``.
        self.type = type
        #: The queue it was fetched from.
        self.queue = queue
        #: How many times it ran and failed before this run.
        self.retry_count = retry_count
        #: How many retries it may use.
        self.max_retry = max_retry
        #: When it must be done by (UTC), or None.
        self.deadline = deadline
        #: The plugin's validated settings model (its defaults when the config has no
        #: ``plugins.<name>`` section); a plain mapping when the plugin declares no model.
        self.settings = settings
        #: When it was enqueued (epoch seconds).
        self.enqueued_at = enqueued_at
        #: The server's time zone (``server.timezone``).
        self.timezone = timezone
        #: The string headers the task carries (``headers=``, the trace context); empty
        #: when none.
        self.headers: dict[str, str] = {}
        #: ``db()`` -> a SQLAlchemy ``Session`` on the configured store.
        self.db = db
        #: When the handler started (epoch seconds), and how long it ran (seconds; set
        #: before ``bingo_task_succeeded`` / ``bingo_task_failed`` are called).
        self.started_at: float | None = None
        #: A workflow step's workflow id (``Client.enqueue_workflow``), else None.
        self.workflow_id: str | None = None
        #: A workflow step's inputs: the results of the steps it waited for, in order (one
        #: per member of a group before it); empty for a first step or a plain task.
        self.parents: list[Any] = []
        self.duration: float | None = None
        self._app = app
        self._cancelled = False
        self._logger: logging.LoggerAdapter[logging.Logger] | None = None
        #: Where ``progress`` goes: ``report(queue, task_id, record)`` (set by the
        #: worker; None: reports are dropped).
        self._progress: Callable[[str, str, TaskProgress], None] | None = None

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

    def progress(self, done: float, total: float | None = None, note: str = "") -> None:
        """Report how far the task is: ``done`` out of ``total`` (None: unknown), with a
        short ``note`` (cut to 200 characters). Cheap enough to call in a tight loop, from
        ``async def`` and plain ``def`` handlers alike: the worker writes the newest value
        at most every :data:`~bingo_core.worker.progress.INTERVAL` seconds and once more
        when the attempt ends. Shown by ``tasks show``, ``client.info(id).progress`` and
        the dashboard's task page. Raises ``ValueError`` (one line) for a negative or
        non-numeric ``done``/``total``. A process-isolated handler's reports are dropped.
        """
        record = TaskProgress.of(done, total, note, time.time())
        report = self._progress
        if report is not None:
            report(self.queue, self.task_id, record)

    @property
    def logger(self) -> logging.LoggerAdapter[logging.Logger]:
        """A logger whose records carry the task id, type and queue."""
        if self._logger is None:
            self._logger = logging.LoggerAdapter(
                _task_log, {"task_id": self.task_id, "task_type": self.type, "queue": self.queue}
            )
        return self._logger

    @property
    def inspector(self) -> Any:
        """The :class:`~bingo_core.inspector.Inspector` of this daemon's Redis (read queues,
        tasks, archived errors and the per-type task statistics); synchronous."""
        if self._app is None:
            raise RuntimeError("this context has no inspector (a process-isolated handler)")
        return self._app.inspector

    def enqueue(self, task_type: str, payload: Any = None, **options: Any) -> Any:
        """Enqueue a follow-up task (validated like :meth:`Client.enqueue`); returns its
        :class:`TaskInfo`. Synchronous: one Redis round trip. The task carries this one's
        headers; those given in ``headers=`` win."""
        if self._app is None:
            raise RuntimeError("this context cannot enqueue (a process-isolated handler)")
        if self.headers:
            given = options.get("headers")
            if given is None:
                options["headers"] = self.headers
            elif isinstance(given, Mapping):  # anything else is refused as given
                options["headers"] = {**self.headers, **given}
        return self._app.client.enqueue(task_type, payload, **options)

    def __reduce__(self) -> tuple[Any, ...]:
        # A process-isolated handler gets a copy without the daemon's connections.
        return (
            TaskContext,
            (
                self.task_id,
                self.type,
                self.queue,
                self.retry_count,
                self.max_retry,
                self.deadline,
                self.settings,
                self.enqueued_at,
                self.timezone,
                self.db,
            ),
            (None, {"headers": self.headers}),
        )

    def now(self) -> datetime:
        """The current time in the server's time zone."""
        return datetime.now(self.timezone)

    @staticmethod
    def deadline_from(epoch: float | None) -> datetime | None:
        """The deadline as an aware UTC datetime (None stays None)."""
        return None if epoch is None else datetime.fromtimestamp(epoch, tz=UTC)

    def __repr__(self) -> str:
        return f"TaskContext(task_id={self.task_id!r}, type={self.type!r}, queue={self.queue!r})"

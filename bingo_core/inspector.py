"""Read and act on queues and tasks: the one API under the CLI and the dashboard."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .broker import Broker
from .broker.broker import STATES
from .errors import TaskNotFound, UsageError
from .message import TaskInfo

ACTIONS = {"retry": "run", "run": "run", "archive": "archive", "delete": "delete"}


class Inspector:
    """Queues, tasks and servers as stored in Redis."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    def queues(self) -> list[str]:
        return self.broker.queues()

    def stats(self, queues: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Per-queue counts per state, totals, today's counters, latency, paused."""
        names = list(queues) if queues else self.queues()
        return [self.broker.queue_stats(q) for q in names]

    def tasks(self, queue: str, state: str, *, offset: int = 0, limit: int = 50) -> list[TaskInfo]:
        if state not in STATES:
            raise UsageError(f"unknown state {state!r} (expected one of {', '.join(STATES)})")
        return self.broker.get_tasks(queue, self.broker.list_ids(queue, state, offset, limit))

    def task(self, queue: str, task_id: str) -> TaskInfo:
        info = self.broker.get_task(queue, task_id)
        assert info is not None
        return info

    def find(self, task_id: str, queue: str | None = None) -> TaskInfo:
        """Find a task by id in ``queue`` or in every known queue."""
        for q in [queue] if queue else self.queues():
            info = self.broker.get_task(q, task_id, missing_ok=True)
            if info is not None:
                return info
        where = f"queue {queue!r}" if queue else "any queue"
        raise TaskNotFound(f"no task {task_id!r} in {where}")

    def act(self, action: str, task_id: str, queue: str | None = None) -> TaskInfo:
        """``retry`` (run now), ``archive`` or ``delete`` one task."""
        if action not in ACTIONS:
            raise UsageError(f"unknown action {action!r} (expected retry, archive or delete)")
        info = self.find(task_id, queue)
        code = self.broker.task_move(info.queue, task_id, ACTIONS[action])
        if code == 0:
            raise TaskNotFound(f"no task {task_id!r} in queue {info.queue!r}")
        if code == -1:
            raise UsageError(f"task {task_id} is already {info.state}")
        if code == -2:
            raise UsageError(
                f"task {task_id} is active (a worker is running it); try again when it finishes"
            )
        return info

    def act_all(self, action: str, queue: str, state: str, limit: int = 10000) -> int:
        """Apply an action to every task of a queue in a state (bulk); returns the count."""
        done = 0
        for task_id in self.broker.list_ids(queue, state, 0, limit):
            if self.broker.task_move(queue, task_id, ACTIONS[action]) == 1:
                done += 1
        return done

    def pause(self, queue: str) -> None:
        self.broker.set_paused(queue, True)

    def resume(self, queue: str) -> None:
        self.broker.set_paused(queue, False)

    def servers(self) -> list[dict[str, Any]]:
        return self.broker.servers()

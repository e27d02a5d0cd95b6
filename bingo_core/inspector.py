"""Read and act on queues, tasks, schedules and servers: the one API under the CLI and
the dashboard.

Every method asks the broker's read side (:class:`~bingo_core.broker.reader.Reader`) or
runs one of its actions; nothing here names a Redis key or a script.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .broker import STATES, Broker
from .errors import QueueNotEmpty, TaskNotFound, UsageError
from .message import TaskInfo

#: Inspector action -> what the task_move script does.
ACTIONS = {"retry": "run", "run": "run", "archive": "archive", "delete": "delete"}


class Inspector:
    """Queues, tasks, schedules and servers as stored in Redis."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.reader = broker.reader

    def ping(self) -> None:
        """Raise :class:`ServiceUnavailable` (one line) when Redis does not answer."""
        self.broker.ping()

    # -- queues ---------------------------------------------------------------------------
    def queues(self) -> list[str]:
        """Every queue name ever used."""
        return self.reader.queues()

    def stats(self, queues: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Per queue: counts per state, totals, today's counters, latency of the oldest
        pending task, paused, and ``consumers``: how many live workers serve it."""
        names = list(queues) if queues else self.queues()
        served = self.consumers()
        rows = []
        for q in names:
            row = self.reader.queue_stats(q)
            row["consumers"] = served.get(q, 0)
            rows.append(row)
        return rows

    def consumers(self) -> dict[str, int]:
        """Queue -> number of live workers (by their heartbeats) that fetch from it."""
        out: dict[str, int] = {}
        for server in self.servers():
            queues = server.get("queues") or {}
            for q in queues if isinstance(queues, dict | list) else ():
                out[str(q)] = out.get(str(q), 0) + 1
        return out

    def unserved(self, queues: Iterable[str]) -> list[str]:
        """Those of ``queues`` that no live worker consumes (empty when no worker at all
        is known either, so a lone client is not warned about every queue)."""
        served = self.consumers()
        if not served:
            return []
        return [q for q in queues if q not in served]

    def pause(self, queue: str) -> None:
        """Stop workers fetching from ``queue`` (tasks still enqueue); a queue may be
        paused before its first task."""
        self.broker.set_paused(queue, True)

    def resume(self, queue: str) -> None:
        """Let workers fetch from ``queue`` again (an idle worker wakes at once)."""
        self.broker.set_paused(queue, False)

    def delete_queue(self, queue: str, *, force: bool = False) -> int:
        """Delete ``queue`` and its tasks; refused while it holds tasks unless ``force``.
        Returns the number of tasks deleted."""
        self._known(queue)
        n = self.broker.delete_queue(queue, force)
        if n < 0:
            size = self.reader.queue_stats(queue)
            held = sum(size[s] for s in STATES)
            raise QueueNotEmpty(
                f"queue {queue!r} still holds {held} task(s); delete them first or use --force"
            )
        return n

    def _known(self, queue: str) -> None:
        if queue not in self.queues():
            known = ", ".join(self.queues()) or "none yet"
            raise UsageError(f"unknown queue {queue!r} (known: {known})")

    # -- tasks ----------------------------------------------------------------------------
    def tasks(self, queue: str, state: str, *, offset: int = 0, limit: int = 50) -> list[TaskInfo]:
        """A page of the tasks of ``queue`` in ``state``, oldest first."""
        _check_state(state)
        return self.reader.get_tasks(queue, self.reader.list_ids(queue, state, offset, limit))

    def task(self, queue: str, task_id: str) -> TaskInfo:
        """One task of ``queue`` (:class:`TaskNotFound` when there is none)."""
        info = self.reader.get_task(queue, task_id)
        assert info is not None
        return info

    def find(self, task_id: str, queue: str | None = None) -> TaskInfo:
        """Find a task by id in ``queue`` or in every known queue."""
        for q in [queue] if queue else self.queues():
            info = self.reader.get_task(q, task_id, missing_ok=True)
            if info is not None:
                return info
        where = f"queue {queue!r}" if queue else "any queue"
        raise TaskNotFound(
            f"no task {task_id!r} in {where} (a finished task is kept only when its "
            "type or enqueue sets retention)"
        )

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
        if action not in ACTIONS:
            raise UsageError(f"unknown action {action!r} (expected retry, archive or delete)")
        _check_state(state)
        done = 0
        for task_id in self.reader.list_ids(queue, state, 0, limit):
            if self.broker.task_move(queue, task_id, ACTIONS[action]) == 1:
                done += 1
        return done

    def task_stats(
        self, day: str | None = None, queues: Iterable[str] | None = None
    ) -> list[dict[str, Any]]:
        """Per queue and task type: processed and failed attempts, duration sum, max,
        p50 and p95 (from a histogram), for one UTC day (``YYYY-MM-DD``) or in total."""
        rows: list[dict[str, Any]] = []
        for q in list(queues) if queues else self.queues():
            rows += self.reader.task_stats(q, day)
        return rows

    # -- servers and schedules ------------------------------------------------------------
    def servers(self) -> list[dict[str, Any]]:
        """Live daemons and worker processes, from their heartbeats."""
        return self.reader.servers()

    def schedules(self, history: int = 0) -> dict[str, Any]:
        """The scheduler's published state: ``leader``, ``entries`` (each with its last
        ``history`` enqueues when asked) and the ``sync`` status of ``sys_crontab``."""
        entries = self.reader.entries()
        if history > 0:
            for entry in entries:
                entry["history"] = self.reader.history(entry["key"], history)
        return {
            "leader": self.reader.leader(),
            "entries": entries,
            "sync": self.reader.sync_status(),
        }

    def schedule_history(self, key: str, limit: int = 100) -> list[dict[str, Any]]:
        """One entry's enqueue history, newest first."""
        return self.reader.history(key, limit)


def _check_state(state: str) -> None:
    if state not in STATES:
        raise UsageError(f"unknown state {state!r} (expected one of {', '.join(STATES)})")

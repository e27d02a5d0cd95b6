"""Read and act on queues, tasks, schedules and servers: the one API under the CLI and
the dashboard.

Every method asks the broker's read side (:class:`~bingo_core.broker.reader.Reader`) or
runs one of its actions; nothing here names a Redis key or a script.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from . import records
from .errors import TaskNotFound, UsageError
from .options import normalize
from .records import STATES, consumers, merge_processes, unserved

if TYPE_CHECKING:
    from .broker import Broker
    from .message import TaskInfo
    from .records import (
        Batched,
        Daily,
        DailySeries,
        EntryState,
        Failure,
        FailurePage,
        HistoryItem,
        Leader,
        MoveResult,
        Overview,
        QueueStats,
        RedisInfo,
        Sample,
        ScheduleEntry,
        SchedulePage,
        Schedules,
        SearchResult,
        ServerInfo,
        SyncStatus,
        Throttled,
        TypeStats,
    )

#: Inspector action -> what the task_move script does.
ACTIONS = {"retry": "run", "run": "run", "archive": "archive", "delete": "delete"}


#: Failed tasks :meth:`Inspector.failures` looks at per queue and state (the newest).
FAILURE_SCAN = 2000

#: Who :meth:`Inspector.cancel` says asked, unless told otherwise.
CANCEL_BY_PYTHON = "Python (Inspector.cancel)"


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

    def stats(self, queues: Iterable[str] | None = None) -> list[QueueStats]:
        """Per queue: counts per state, totals, today's counters, latency of the oldest
        pending task, paused, and ``consumers``: how many live workers serve it."""
        names = list(queues) if queues else self.queues()
        served = self.consumers()
        return [
            dataclasses.replace(self.reader.queue_stats(q), consumers=served.get(q, 0))
            for q in names
        ]

    def throttled(self, queues: Iterable[str] | None = None) -> list[Throttled]:
        """The tasks held back by their type's ``concurrency_limit`` or ``rate_limit``,
        per queue, task type and ``limit_key`` value, with how long the first has waited."""
        rows: list[Throttled] = []
        for q in list(queues) if queues else self.queues():
            rows += self.reader.throttled(q)
        return rows

    def batches(self, queues: Iterable[str] | None = None) -> list[Batched]:
        """The items of batched task types waiting to be cut into a batch, per queue,
        task type and batch key value, with how long the oldest has waited."""
        rows: list[Batched] = []
        for q in list(queues) if queues else self.queues():
            if q not in self.reader.asynq_queues:
                rows += self.reader.batches(q)
        return rows

    def consumers(self) -> dict[str, int]:
        """Queue -> number of live workers (by their heartbeats) that fetch from it."""
        return consumers(self.servers())

    def unserved(self, queues: Iterable[str]) -> list[str]:
        """Those of ``queues`` that no live worker consumes (empty when no worker at all
        is known either, so a lone client is not warned about every queue)."""
        return unserved(self.servers(), queues)

    def asynq_listed(self) -> set[str]:
        """The queue names in Asynq's own list (``asynq:queues``), which Asynq's tools
        (asynqmon, the asynq CLI) show."""
        return self.reader.asynq_listed()

    def pause(self, queue: str) -> None:
        """Stop workers fetching from ``queue`` (tasks still enqueue); a queue may be
        paused before its first task."""
        _check_queue(queue)
        self.broker.set_paused(queue, True)

    def resume(self, queue: str) -> None:
        """Let workers fetch from ``queue`` again (an idle worker wakes at once)."""
        _check_queue(queue)
        self.broker.set_paused(queue, False)

    def delete_queue(self, queue: str, *, force: bool = False) -> int:
        """Delete ``queue`` and its tasks; refused while it holds tasks unless ``force``.
        Returns the number of tasks deleted."""
        self._known(queue)
        return self.broker.delete_queue(queue, force)

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
        target = _target(action)
        info = self.find(task_id, queue)
        done = self.broker.task_move(info.queue, task_id, target)
        if done is records.Move.MISSING:
            raise TaskNotFound(f"no task {task_id!r} in queue {info.queue!r}")
        if done is records.Move.ALREADY:
            raise UsageError(f"task {task_id} is already {info.state}")
        if done is records.Move.ACTIVE:
            raise UsageError(
                f"task {task_id} is active (a worker is running it); try again when it finishes"
            )
        if done is records.Move.CANCELLED_WORKFLOW:
            raise UsageError(
                f"task {task_id} is a step of a cancelled workflow: a cancelled workflow is "
                "not resumed (enqueue it again)"
            )
        return info

    def act_all(self, action: str, queue: str, state: str, limit: int = 10000) -> int:
        """Apply an action to every task of a queue in a state (bulk); returns the count."""
        target = _target(action)
        _check_state(state)
        done = 0
        for task_id in self.reader.list_ids(queue, state, 0, limit):
            if self.broker.task_move(queue, task_id, target, state) is records.Move.DONE:
                done += 1
        return done

    def failures(
        self,
        queues: Iterable[str] | None = None,
        *,
        task_type: str = "",
        text: str = "",
        since: float | None = None,
        until: float | None = None,
        offset: int = 0,
        limit: int = 50,
        scan: int = FAILURE_SCAN,
    ) -> FailurePage:
        """Tasks whose last attempt failed (retrying or archived) in ``queues`` (default:
        every queue), newest failure first: of ``task_type`` (exact) when given, whose
        error holds ``text`` (case-insensitive), that failed between ``since`` and
        ``until`` (epoch s); the page from ``offset``. The newest ``scan`` tasks of each
        queue and state are looked at (``complete`` says whether that was all)."""
        needle = text.lower()
        found: list[Failure] = []
        scanned, complete = 0, True
        for queue in list(queues) if queues else self.queues():
            for state in ("retry", "archived"):
                ids, more = self.reader.failed_ids(queue, state, since, until, scan)
                complete = complete and not more
                scanned += len(ids)
                for info in self.reader.get_tasks(queue, ids):
                    if _failure_matches(info, state, task_type, needle, since, until):
                        found.append(_failure(info))
        found.sort(key=lambda f: f.failed_at or 0.0, reverse=True)
        page = found[max(0, offset) : max(0, offset) + max(0, limit)]
        return records.FailurePage(page, len(found), offset, limit, scanned, complete)

    def existing(self, tasks: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Those of the ``(queue, id)`` pairs whose task is still kept (a completed task
        is kept only for its retention)."""
        return self.reader.existing(list(dict.fromkeys(tasks)))

    def task_stats(
        self, day: str | None = None, queues: Iterable[str] | None = None
    ) -> list[TypeStats]:
        """Per queue and task type: processed and failed attempts, duration sum, max,
        p50 and p95 (from a histogram), for one day (``YYYY-MM-DD`` in the server's time
        zone) or in total."""
        rows: list[TypeStats] = []
        for q in list(queues) if queues else self.queues():
            rows += self.reader.task_stats(q, day)
        return rows

    # -- servers and schedules ------------------------------------------------------------
    def servers(self) -> list[ServerInfo]:
        """Live daemons and worker processes, from their heartbeats."""
        return self.reader.servers()

    def schedules(self, history: int = 0) -> Schedules:
        """The scheduler's published state: the lease, the entries (each with its last
        ``history`` enqueues when asked) and the sync status of ``sys_crontab``."""
        entries = self.reader.entries()
        if history > 0:
            entries = [
                dataclasses.replace(e, history=self.reader.history(e.key, history)) for e in entries
            ]
        return records.Schedules(self.reader.leader(), entries, self.reader.sync_status())

    def schedule_history(self, key: str, limit: int = 100) -> list[HistoryItem]:
        """One entry's enqueue history, newest first."""
        return self.reader.history(key, limit)

    # -- the dashboard's reads ------------------------------------------------------------
    def overview(self, queues: Iterable[str] | None = None) -> Overview:
        """Every queue's :meth:`stats` with today's error rate and its estimated memory
        (``MEMORY USAGE`` on its keys and a few sampled tasks), and the totals."""
        rows = [
            records.QueueOverview.of(s, self.reader.memory(s.queue).bytes)
            for s in self.stats(queues)
        ]
        return records.Overview(rows, records.Totals.of(rows), time.time())

    def daily(self, days: int = 7, queues: Iterable[str] | None = None) -> Daily:
        """Processed and failed attempts per day (in the server's time zone), the last
        ``days`` days (today last), per queue and in total, from the daily counters."""
        days = max(1, min(int(days), 90))
        today = datetime.now(self.reader.zone or UTC).date()
        labels = [(today - timedelta(days=days - 1 - i)).isoformat() for i in range(days)]
        per_queue: dict[str, DailySeries] = {}
        total = records.DailySeries([0] * days, [0] * days)
        for q in list(queues) if queues else self.queues():
            counts = self.reader.daily_counts(q, labels)
            per_queue[q] = records.DailySeries([p for p, _ in counts], [f for _, f in counts])
            for i, (p, f) in enumerate(counts):
                total.processed[i] += p
                total.failed[i] += f
        return records.Daily(labels, per_queue, total)

    def samples(self, minutes: int = 60) -> list[Sample]:
        """Queue size samples of the last ``minutes`` (oldest first), as the daemons'
        samplers wrote them."""
        since = time.time() - minutes * 60
        return [s for s in self.reader.samples(1000) if s.t >= since]

    def search(
        self,
        queue: str,
        state: str,
        text: str,
        where: str = "any",
        *,
        start: int = 0,
        scan: int = 5000,
        limit: int = 50,
    ) -> SearchResult:
        """Tasks of ``queue`` in ``state`` whose payload or error holds ``text``, looking at
        no more than ``scan`` tasks from ``start`` (see :meth:`Reader.search`); ``where``
        is ``payload``, ``error`` or ``any``."""
        _check_state(state)
        if where not in ("payload", "error", "any"):
            raise UsageError(f"unknown search field {where!r} (expected payload, error or any)")
        page = self.reader.search(
            queue, state, text, where, start=max(0, start), scan=scan, limit=limit
        )
        return records.SearchResult(self.reader.get_tasks(queue, page.ids), page.scanned, page.next)

    def cancel_requested(self, queue: str, ids: Iterable[str]) -> dict[str, float]:
        """Those of ``ids`` (active tasks) whose cancel was asked, and when."""
        return self.reader.cancel_requested(queue, list(ids))

    def schedule_page(
        self, offset: int = 0, limit: int = 50, query: str = "", source: str = ""
    ) -> SchedulePage:
        """A page of the published schedule entries, sorted by key, whose key holds
        ``query`` (case-insensitive) and whose source starts with ``source`` (``plugin``,
        ``config``, ``db``); with ``total`` (matching), the leader and the sync status."""
        keys = self.reader.entry_keys()
        if query:
            needle = query.lower()
            keys = [k for k in keys if needle in k.lower()]
        if source:
            keys = [k for k in keys if k.startswith(source)]
        page = keys[max(0, offset) : max(0, offset) + max(0, limit)]
        return records.SchedulePage(
            total=len(keys),
            offset=offset,
            limit=limit,
            entries=self.reader.entries(page) if page else [],
            leader=self.leader(),
            sync=self.reader.sync_status(),
        )

    def schedule_entry(self, key: str, history: int = 100) -> ScheduleEntry | None:
        """One published entry with its last ``history`` enqueues, or None."""
        found = self.reader.entries([key])
        if not found:
            return None
        return dataclasses.replace(found[0], history=self.reader.history(key, history))

    def sync_status(self) -> SyncStatus | None:
        """The last ``sys_crontab`` sync status the scheduler leader published."""
        return self.reader.sync_status()

    def server_records(self, keep: float = 3600.0) -> list[ServerInfo]:
        """Servers with a heartbeat in the last ``keep`` seconds, as recorded (one per
        record; see :meth:`server_list` for one per process)."""
        return self.reader.server_records(keep)

    def entry_keys(self) -> list[str]:
        """Every published schedule entry key, sorted."""
        return self.reader.entry_keys()

    def published(self, keys: Iterable[str]) -> set[str]:
        """Those of ``keys`` that the scheduler leader publishes (fires)."""
        return self.reader.published(list(keys))

    def entry_states(self) -> list[EntryState]:
        """Every published entry's fire state (next, last tick, last enqueue, missed)."""
        return self.reader.entry_states(self.reader.entry_keys())

    def leader(self) -> Leader:
        """The leader lease (``id``, ``epoch``, ``ttl``) and ``since``: when it was first
        seen holding this token (by a daemon's sampler; None before one noticed)."""
        lease = self.reader.leader()
        seen = self.reader.leader_since()
        since = None
        if seen is not None and seen.id == lease.id and seen.epoch == lease.epoch:
            since = seen.since
        return records.Leader(lease.id, lease.epoch, lease.ttl, since)

    def server_list(self, keep: float = 3600.0) -> list[ServerInfo]:
        """Servers with a heartbeat in the last ``keep`` seconds: each record with its
        ``status`` (live, dead: heartbeat stopped, stopped: shut down), ``heartbeat_age``,
        ``roles`` and its active tasks with their ``running`` time (seconds)."""
        now = time.time()
        servers = self.reader.server_records(keep)
        leader = self.reader.leader().id
        lead_proc = ":".join(leader.split(":")[:2]) if leader else None
        wanted = [(t.queue, t.id) for s in servers if s.status == "live" for t in s.active]
        started = self.reader.started(wanted)
        return merge_processes([s.seen(now, lead_proc, started) for s in servers])

    def redis_info(self) -> RedisInfo:
        """Redis version, mode (standalone, sentinel, cluster), memory, clients, and the
        keys under Bingo's prefix (bounded ``SCAN``)."""
        return self.reader.redis_info()

    # -- the dashboard's actions ----------------------------------------------------------
    def act_many(self, action: str, queue: str, ids: Iterable[str]) -> MoveResult:
        """``retry``/``run``, ``archive`` or ``delete`` the tasks ``ids`` of ``queue``: how
        many moved, and why each other one did not (missing, already there, active)."""
        wanted = list(dict.fromkeys(ids))
        moves = self.broker.task_move_many(queue, wanted, _target(action))
        skipped = {
            i: str(m) for i, m in zip(wanted, moves, strict=True) if m is not records.Move.DONE
        }
        return records.MoveResult(sum(1 for m in moves if m is records.Move.DONE), skipped)

    def act_state(self, action: str, queue: str, state: str, limit: int = 100_000) -> int:
        """An action on every task of ``queue`` in ``state`` (at most ``limit``), in batches;
        returns how many tasks it moved or deleted."""
        target = _target(action)
        _check_state(state)
        if state == "active":
            raise UsageError("active tasks are held by workers: cancel them one by one")
        if (target, state) in (("run", "pending"), ("archive", "archived")):
            raise UsageError(f"the {state} tasks are already {state}")
        done = 0
        while done < limit:
            ids = self.reader.list_ids(queue, state, 0, min(500, limit - done))
            if not ids:
                break
            moves = self.broker.task_move_many(queue, ids, target)
            moved = sum(1 for m in moves if m is records.Move.DONE)
            done += moved
            if moved == 0:  # only tasks that cannot move are left at the head
                break
        return done

    def cancel(
        self, task_id: str, queue: str | None = None, *, by: str = CANCEL_BY_PYTHON
    ) -> TaskInfo:
        """Cancel the task ``task_id``; ``by`` names who asked in its error text
        ("cancelled by <by> ..."). A waiting task (pending, scheduled, retry between two
        attempts, or waiting for its dependencies) is archived at once; for an active one
        the worker running it is asked to stop it, which its heartbeat sees within a third
        of ``worker.lease``.
        Returns the task as it is now (``archived``, or still ``active``)."""
        if not isinstance(by, str) or not by.strip() or len(by) > 200 or "\n" in by:
            raise UsageError(f"cancel: by={by!r}: expected a one-line name of who asks")
        info = self.find(task_id, queue)
        done = self.broker.task_cancel(info.queue, task_id, by)
        if done is records.Move.MISSING:
            raise TaskNotFound(f"no task {task_id!r} in queue {info.queue!r}")
        if done is records.Move.ALREADY:
            raise UsageError(f"task {task_id} is {info.state} already: nothing to cancel")
        return self.find(task_id, info.queue)


def _failure_matches(
    info: TaskInfo,
    state: str,
    task_type: str,
    needle: str,
    since: float | None,
    until: float | None,
) -> bool:
    """Whether a task read as ``state`` still is in it and passes the failure filters."""
    at = info.failed_at or 0.0
    return (
        info.state == state
        and (not task_type or info.type == task_type)
        and (not needle or needle in info.error.lower())
        and (since is None or at >= since)
        and (until is None or at <= until)
    )


def _failure(info: TaskInfo) -> Failure:
    return records.Failure(
        queue=info.queue,
        id=info.id,
        type=info.type,
        state=info.state,
        error=info.error,
        failed_at=info.failed_at,
        retried=info.retried,
        max_retry=info.max_retry,
        next_attempt=info.process_at if info.state == "retry" else None,
    )


def _check_queue(queue: str) -> None:
    normalize({"queue": queue}, where="queue")


def _target(action: str) -> str:
    """What the task_move script does for an inspector ``action``."""
    if action not in ACTIONS:
        raise UsageError(f"unknown action {action!r} (expected retry, archive or delete)")
    return ACTIONS[action]


def _check_state(state: str) -> None:
    if state not in STATES:
        raise UsageError(f"unknown state {state!r} (expected one of {', '.join(STATES)})")

"""The read side's task reads: pages of ids per state, task hashes, a bounded search, the
cancel requests and start times of active tasks."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .. import records
from ..asynq import view as asynq_view
from ..errors import TaskNotFound
from ..limits import hold_reason, subject_of
from ..message import TaskInfo
from .read_base import ReadBase, number, text
from .scripts import is_workflow_id

if TYPE_CHECKING:
    from ..records import SearchPage


class TaskReads(ReadBase):
    """Reads of tasks (see :class:`~.reader.Reader`)."""

    def list_ids(self, queue: str, state: str, offset: int = 0, limit: int = 50) -> list[str]:
        """Ids of a state, oldest first (pending: the head of the queue first)."""
        q = self.tasks_at(queue)
        key = q.by_state(state)
        pipe = self._pipe_for(queue)
        if state == "pending":  # head (oldest) first
            pipe.lrange(key, -(offset + limit), -(offset + 1))
        else:
            pipe.zrange(key, offset, offset + limit - 1)
        (ids,) = self._run(pipe, key)
        if state == "pending":
            ids = ids[::-1]
        return [text(i) for i in ids]

    def get_tasks(self, queue: str, ids: Sequence[str]) -> list[TaskInfo]:
        """The tasks of ``ids`` that exist; a task key of the wrong type is shown as
        malformed, naming the key."""
        q = self.tasks_at(queue)
        if not ids:
            return []
        shown = asynq_view.task_info if queue in self.asynq_queues else TaskInfo.from_hash
        pipe = self._pipe_for(queue)
        for task_id in ids:
            pipe.hgetall(q.task(task_id))
        # When a waiting task is due: the score of its id in the retry or scheduled set
        # (a retry's hash keeps no time of its next attempt).
        pipe.zmscore(q.retry, list(ids))
        pipe.zmscore(q.scheduled, list(ids))
        *rows, retry_at, due_at = self._run_each(pipe)
        due = {"retry": _scores(ids, retry_at), "scheduled": _scores(ids, due_at)}
        out = []
        for task_id, row in zip(ids, rows, strict=True):
            if isinstance(row, Exception):
                out.append(
                    TaskInfo(
                        id=task_id,
                        type="?",
                        queue=queue,
                        state="unknown",
                        error=f"malformed: key {q.task(task_id)} is not a hash",
                    )
                )
            elif row:
                info = shown(queue, task_id, row)
                at = due.get(info.state, {}).get(task_id)
                out.append(info if at is None else dataclasses.replace(info, process_at=at))
        return out

    def get_task(self, queue: str, task_id: str, *, missing_ok: bool = False) -> TaskInfo | None:
        """One task, or None (``missing_ok``) / :class:`TaskNotFound`."""
        found = self.get_tasks(queue, [task_id])
        if not found:
            if missing_ok:
                return None
            raise TaskNotFound(f"no task {task_id!r} in queue {queue!r}")
        info = found[0]
        if info.state == "pending" and queue not in self.asynq_queues:
            held_by = self._held_by(queue, task_id)
            if held_by:
                info = dataclasses.replace(info, held_by=held_by)
        return info

    def _held_by(self, queue: str, task_id: str) -> str | None:
        """Why a pending task is held back by its type's limits, or None when it is not
        on its subject's held list (a queue's own limits hold no list: not said)."""
        q = self.q(queue)
        pipe = self._pipe_for(queue)
        pipe.hget(q.task(task_id), "lim")
        (lim,) = self._run_each(pipe)
        if not isinstance(lim, (bytes, str)) or not lim:
            return None
        lim = text(lim)
        subject = subject_of(lim)
        pipe = self._pipe_for(queue)
        pipe.lpos(q.limit(subject, "held"), task_id)  # O(held), for one task only
        pipe.zcard(q.limit(subject, "active"))
        pipe.get(q.limit(subject, "next"))
        where, running, next_start = self._run_each(pipe)
        if not isinstance(where, int):  # not held, or a key of the wrong type
            return None
        return hold_reason(
            lim,
            running if isinstance(running, int) else 0,
            number(next_start) if isinstance(next_start, (bytes, str)) else None,
            time.time(),  # next_start is Redis's clock: near enough to show a wait
        )

    def search(
        self,
        queue: str,
        state: str,
        needle: str,
        where: str,
        *,
        start: int = 0,
        scan: int = 5000,
        limit: int = 50,
        batch: int = 500,
    ) -> SearchPage:
        """Tasks of a state whose payload (``where="payload"``), error (``"error"``) or
        either (``"any"``) contains ``needle`` (case-insensitive), looking at no more than
        ``scan`` tasks from position ``start``: at most ``limit`` ids, how many tasks were
        looked at, and where to go on. The matching is done here, not in Redis, so a
        search never blocks Redis."""
        q = self.q(queue)
        lower = needle.lower()
        found: list[str] = []
        position, scanned = start, 0
        while scanned < scan and len(found) < limit:
            ids = self.list_ids(queue, state, position, min(batch, scan - scanned))
            if not ids:
                return records.SearchPage(found, scanned, None)
            pipe = self._pipe()
            for task_id in ids:
                pipe.hmget(q.task(task_id), "msg", "error")
            rows = self._run_each(pipe)
            for i, (task_id, row) in enumerate(zip(ids, rows, strict=True)):
                if isinstance(row, Exception) or row[0] is None:
                    continue
                if _matches(row[0], row[1], lower, where):
                    found.append(task_id)
                    if len(found) == limit:
                        return records.SearchPage(found, scanned + i + 1, position + i + 1)
            position += len(ids)
            scanned += len(ids)
        return records.SearchPage(found, scanned, position)

    def cancel_requested(self, queue: str, ids: Sequence[str]) -> dict[str, float]:
        """Those of ``ids`` with a pending cancel request, and when it was made."""
        if not ids:
            return {}
        pipe = self._pipe()
        pipe.zmscore(self.q(queue).cancel, list(ids))
        (scores,) = self._run(pipe, self.q(queue).cancel)
        return {i: float(s) for i, s in zip(ids, scores, strict=True) if s is not None}

    def failed_ids(
        self, queue: str, state: str, since: float | None, until: float | None, limit: int
    ) -> tuple[list[str], bool]:
        """Ids of ``queue``'s ``retry`` or ``archived`` tasks, at most ``limit``, newest
        first, and whether there were more. Archived ones are picked by when they failed
        (their score), between ``since`` and ``until``; retrying ones by their next
        attempt (after ``since``: it follows the failure)."""
        q = self.tasks_at(queue)
        key = q.retry if state == "retry" else q.archived
        high = "+inf" if state == "retry" or until is None else repr(until)
        low = "-inf" if since is None else repr(since)
        pipe = self._pipe_for(queue)
        pipe.zrevrangebyscore(key, high, low, start=0, num=limit + 1)
        (ids,) = self._run(pipe, key)
        return [text(i) for i in ids[:limit]], len(ids) > limit

    def existing(self, tasks: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Those of the ``(queue, id)`` pairs whose task is still kept (a workflow id:
        whose workflow record is)."""
        if not tasks:
            return set()
        out: set[tuple[str, str]] = set()
        theirs = [t for t in tasks if t[0] in self.asynq_queues]
        for part in ([t for t in tasks if t[0] not in self.asynq_queues], theirs):
            if not part:
                continue
            pipe = self._pipe_for(part[0][0])
            for queue, task_id in part:
                keys = self.tasks_at(queue)
                kept = keys.workflow(task_id) if is_workflow_id(task_id) else keys.task(task_id)
                pipe.exists(kept)
            found = self._run_each(pipe)
            out |= {t for t, n in zip(part, found, strict=True) if n is True or n == 1}
        return out

    def started(self, tasks: Sequence[tuple[str, str]]) -> dict[str, float]:
        """``started_at`` of each ``(queue, id)`` that has one, by id."""
        if not tasks:
            return {}
        pipe = self._pipe()
        for queue, task_id in tasks:
            pipe.hget(self.q(queue).task(task_id), "started_at")
        values = self._run_each(pipe)
        out = {}
        for (_, task_id), value in zip(tasks, values, strict=True):
            at = None if isinstance(value, Exception) else number(value)
            if at is not None:
                out[task_id] = at
        return out


def _matches(msg: Any, error: Any, needle: str, where: str) -> bool:
    """Whether a task's payload or error contains ``needle`` (lower case)."""
    if where in ("error", "any") and error is not None and needle in text(error).lower():
        return True
    if where not in ("payload", "any"):
        return False
    raw = text(msg)
    plain = needle.isascii() and '"' not in needle and "\\" not in needle
    if plain and needle not in raw.lower():  # the cheap test first; most tasks stop here
        return False
    try:
        payload = json.loads(raw).get("payload")
    except (ValueError, AttributeError):
        return False
    shown = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return needle in shown.lower()


def _scores(ids: Sequence[str], scores: Any) -> dict[str, float]:
    """Id -> score from a ``ZMSCORE`` answer (nothing when the set's key held the wrong
    type: the task is shown without the time)."""
    if isinstance(scores, Exception) or scores is None:
        return {}
    return {i: float(s) for i, s in zip(ids, scores, strict=True) if s is not None}

"""Read and act on queues, tasks, schedules and servers: the one API under the CLI and
the dashboard.

Every method asks the broker's read side (:class:`~bingo_core.broker.reader.Reader`) or
runs one of its actions; nothing here names a Redis key or a script.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
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
        p50 and p95 (from a histogram), for one day (``YYYY-MM-DD`` in the server's time
        zone) or in total."""
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

    # -- the dashboard's reads ------------------------------------------------------------
    def overview(self, queues: Iterable[str] | None = None) -> dict[str, Any]:
        """Every queue's :meth:`stats` with today's error rate and its estimated memory
        (``MEMORY USAGE`` on its keys and a few sampled tasks), and the totals."""
        rows = self.stats(queues)
        for row in rows:
            done = row["processed_today"]
            row["error_rate_today"] = row["failed_today"] / done if done else 0.0
            row["memory"] = self.reader.memory(row["queue"])["bytes"]
        totals: dict[str, Any] = {"queues": len(rows)}
        for name in (*STATES, "size", "processed", "failed", "processed_today", "failed_today"):
            totals[name] = sum(int(r[name]) for r in rows)
        totals["memory"] = sum(int(r["memory"]) for r in rows)
        done = totals["processed_today"]
        totals["error_rate_today"] = totals["failed_today"] / done if done else 0.0
        totals["latency"] = max((float(r["latency"]) for r in rows), default=0.0)
        totals["paused"] = sum(1 for r in rows if r["paused"])
        return {"queues": rows, "totals": totals, "at": time.time()}

    def daily(self, days: int = 7, queues: Iterable[str] | None = None) -> dict[str, Any]:
        """Processed and failed attempts per day (in the server's time zone), the last
        ``days`` days (today last), per queue and in total, from the daily counters."""
        days = max(1, min(int(days), 90))
        today = datetime.now(self.reader.zone or UTC).date()
        labels = [(today - timedelta(days=days - 1 - i)).isoformat() for i in range(days)]
        per_queue: dict[str, dict[str, list[int]]] = {}
        total = {"processed": [0] * days, "failed": [0] * days}
        for q in list(queues) if queues else self.queues():
            counts = self.reader.daily_counts(q, labels)
            per_queue[q] = {"processed": [p for p, _ in counts], "failed": [f for _, f in counts]}
            for i, (p, f) in enumerate(counts):
                total["processed"][i] += p
                total["failed"][i] += f
        return {"days": labels, "queues": per_queue, "total": total}

    def samples(self, minutes: int = 60) -> list[dict[str, Any]]:
        """Queue size samples of the last ``minutes`` (oldest first), as the daemons'
        samplers wrote them: ``{"t": epoch, "q": {queue: {state: count}}}``."""
        since = time.time() - minutes * 60
        return [s for s in self.reader.samples(1000) if s["t"] >= since]

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
    ) -> dict[str, Any]:
        """Tasks of ``queue`` in ``state`` whose payload or error holds ``text``, looking at
        no more than ``scan`` tasks from ``start`` (see :meth:`Reader.search`); ``where``
        is ``payload``, ``error`` or ``any``. ``tasks`` are the matches."""
        _check_state(state)
        if where not in ("payload", "error", "any"):
            raise UsageError(f"unknown search field {where!r} (expected payload, error or any)")
        found = self.reader.search(
            queue, state, text, where, start=max(0, start), scan=scan, limit=limit
        )
        found["tasks"] = self.reader.get_tasks(queue, found.pop("ids"))
        return found

    def cancel_requested(self, queue: str, ids: Iterable[str]) -> dict[str, float]:
        """Those of ``ids`` (active tasks) whose cancel was asked, and when."""
        return self.reader.cancel_requested(queue, list(ids))

    def schedule_page(
        self, offset: int = 0, limit: int = 50, query: str = "", source: str = ""
    ) -> dict[str, Any]:
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
        return {
            "total": len(keys),
            "offset": offset,
            "limit": limit,
            "entries": self.reader.entries(page) if page else [],
            "leader": self.leader(),
            "sync": self.reader.sync_status(),
        }

    def schedule_entry(self, key: str, history: int = 100) -> dict[str, Any] | None:
        """One published entry with its last ``history`` enqueues, or None."""
        found = self.reader.entries([key])
        if not found:
            return None
        entry = found[0]
        entry["history"] = self.reader.history(key, history)
        return entry

    def entry_keys(self) -> list[str]:
        """Every published schedule entry key, sorted."""
        return self.reader.entry_keys()

    def published(self, keys: Iterable[str]) -> set[str]:
        """Those of ``keys`` that the scheduler leader publishes (fires)."""
        return self.reader.published(list(keys))

    def entry_states(self) -> list[dict[str, Any]]:
        """Every published entry's fire state (next, last tick, last enqueue, missed)."""
        return self.reader.entry_states(self.reader.entry_keys())

    def leader(self) -> dict[str, Any]:
        """The leader lease (``id``, ``epoch``, ``ttl``) and ``since``: when it was first
        seen holding this token (by a daemon's sampler; None before one noticed)."""
        leader = self.reader.leader()
        seen = self.reader.leader_since()
        leader["since"] = None
        if seen and seen.get("id") == leader["id"] and seen.get("epoch") == leader["epoch"]:
            leader["since"] = seen.get("since")
        return leader

    def server_list(self, keep: float = 3600.0) -> list[dict[str, Any]]:
        """Servers with a heartbeat in the last ``keep`` seconds: each record with its
        ``status`` (live, dead: heartbeat stopped, stopped: shut down), ``heartbeat_age``,
        ``roles`` and its active tasks with their ``running`` time (seconds)."""
        now = time.time()
        servers = self.reader.server_records(keep)
        leader = self.reader.leader().get("id") or ""
        lead_proc = ":".join(leader.split(":")[:2])
        wanted = [
            (str(t.get("queue")), str(t.get("id")))
            for s in servers
            if s["status"] == "live"
            for t in s.get("active") or []
            if isinstance(t, dict)
        ]
        started = self.reader.started(wanted)
        for server in servers:
            at = server.get("at")
            server["heartbeat_age"] = now - at if isinstance(at, int | float) else None
            roles = list(server.get("roles") or (["worker"] if "concurrency" in server else []))
            proc = f"{server.get('host')}:{server.get('pid')}"
            if leader and proc == lead_proc and "scheduler leader" not in roles:
                roles.append("scheduler leader")
            server["roles"] = roles
            active = []
            for task in server.get("active") or []:
                if not isinstance(task, dict):
                    continue
                begun = started.get(str(task.get("id")))
                running = now - begun if begun is not None and server["status"] == "live" else None
                active.append({**task, "started_at": begun, "running": running})
            server["active"] = active
        return _merge_processes(servers)

    def redis_info(self) -> dict[str, Any]:
        """Redis version, mode (standalone, sentinel, cluster), memory, clients, and the
        keys under Bingo's prefix (bounded ``SCAN``)."""
        return self.reader.redis_info()

    # -- the dashboard's actions ----------------------------------------------------------
    def act_many(self, action: str, queue: str, ids: Iterable[str]) -> dict[str, Any]:
        """``retry``/``run``, ``archive`` or ``delete`` the tasks ``ids`` of ``queue``; returns
        ``done`` (a count) and ``skipped``: id -> why (missing, already there, active)."""
        if action not in ACTIONS:
            raise UsageError(f"unknown action {action!r} (expected retry, archive or delete)")
        wanted = list(dict.fromkeys(ids))
        codes = self.broker.task_move_many(queue, wanted, ACTIONS[action])
        why = {0: "no such task", -1: "already in that state", -2: "active"}
        skipped = {i: why.get(c, str(c)) for i, c in zip(wanted, codes, strict=True) if c != 1}
        return {"done": sum(1 for c in codes if c == 1), "skipped": skipped}

    def act_state(self, action: str, queue: str, state: str, limit: int = 100_000) -> int:
        """An action on every task of ``queue`` in ``state`` (at most ``limit``), in batches;
        returns how many tasks it moved or deleted."""
        if action not in ACTIONS:
            raise UsageError(f"unknown action {action!r} (expected retry, archive or delete)")
        _check_state(state)
        if state == "active":
            raise UsageError("active tasks are held by workers: cancel them one by one")
        target = ACTIONS[action]
        if (target, state) in (("run", "pending"), ("archive", "archived")):
            raise UsageError(f"the {state} tasks are already {state}")
        done = 0
        while done < limit:
            ids = self.reader.list_ids(queue, state, 0, min(500, limit - done))
            if not ids:
                break
            moved = sum(1 for c in self.broker.task_move_many(queue, ids, target) if c == 1)
            done += moved
            if moved == 0:  # only tasks that cannot move are left at the head
                break
        return done

    def cancel(self, task_id: str, queue: str | None = None) -> TaskInfo:
        """Ask the worker running the active task ``task_id`` to cancel it; the worker's
        heartbeat sees the request within a third of ``worker.lease``."""
        info = self.find(task_id, queue)
        code = self.broker.task_cancel(info.queue, task_id)
        if code == 0:
            raise TaskNotFound(f"no task {task_id!r} in queue {info.queue!r}")
        if code == -1:
            raise UsageError(f"task {task_id} is {info.state}, not active: nothing to cancel")
        return info


def _merge_processes(servers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per process: a record that only names roles (a dashboard's own, written by
    its sampler) is folded into the worker record of the same live host and pid."""
    workers = {
        (s.get("host"), s.get("pid")): s
        for s in servers
        if "concurrency" in s and s["status"] == "live"
    }
    out = []
    for server in servers:
        main = workers.get((server.get("host"), server.get("pid")))
        if "concurrency" not in server and main is not None and server["status"] == "live":
            main["roles"] += [r for r in server["roles"] if r not in main["roles"]]
            continue
        out.append(server)
    return out


def _check_queue(queue: str) -> None:
    from .options import normalize

    normalize({"queue": queue}, where="queue")


def _check_state(state: str) -> None:
    if state not in STATES:
        raise UsageError(f"unknown state {state!r} (expected one of {', '.join(STATES)})")

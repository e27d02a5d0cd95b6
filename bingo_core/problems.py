"""What is wrong now: the problems the overview leads with, ``GET /queue/api/problems``,
``bingo-scheduler problems`` and ``bingo_problems{kind}`` in ``/metrics``.

:func:`find_problems` reads everything through the :class:`~bingo_core.inspector.Inspector`
(no Redis key here) and judges it against ``dashboard.problems``:

- ``error_rate`` (critical): a queue's failed share of today's attempts above
  ``errorRate``, once it made ``minAttempts`` attempts today;
- ``unserved_queue`` (critical): pending tasks in a queue no live worker consumes;
- ``backlog`` (warning): the oldest pending task has waited longer than ``backlog``;
- ``throttled`` (warning): tasks held back by their type's limits (per type and
  ``limit_key`` value) whose first has waited longer than ``throttled``;
- ``dead_server`` (warning): a heartbeat that stopped without a clean stop (seen in the
  last hour);
- ``stuck_task`` (warning): a task active longer than its timeout plus ``worker.lease``;
- ``missed_ticks`` (warning): an entry skipped ticks within ``missedWindow``;
- ``workflow_failed`` (warning): a workflow failed within ``workflowWindow`` (one problem
  per workflow, naming its failed step and that step's error);
- ``leaderless`` (critical): published entries and no scheduler leader;
- ``sync`` (warning; critical when the database is down): ``sys_crontab`` rows the sync
  skipped, or the database it cannot reach.

A paused queue is never ``unserved_queue`` or ``backlog``: its tasks wait by choice.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING

from .records import PROBLEM_KINDS, SEVERITIES, EntryState, Problem, QueueStats
from .workflows_view import failed_workflows

if TYPE_CHECKING:
    from .config import Settings
    from .config.settings import ProblemSettings
    from .inspector import Inspector

__all__ = ["PROBLEM_KINDS", "Problem", "count_by_kind", "find_problems"]

#: Most entries whose history is read to date their missed ticks (the rest: since unknown).
HISTORY_READS = 100
#: History items read per entry to find its latest missed ticks.
HISTORY_DEPTH = 20
#: Most active tasks read per queue to find stuck ones.
ACTIVE_READS = 500
#: Most workflows read per queue (the newest) to find failed ones.
WORKFLOW_READS = 500
#: How much of a failed step's error a ``workflow_failed`` message shows.
ERROR_SHOWN = 160


def find_problems(
    inspector: Inspector,
    settings: Settings,
    now: float | None = None,
    *,
    entry_states: list[EntryState] | None = None,
) -> list[Problem]:
    """Every problem found now, the critical ones first, then by kind and subject.

    ``entry_states``: every entry's fire state when the caller read it already (a
    ``/metrics`` scrape does: with 10,000 entries that read takes about 100 ms).
    """
    now = time.time() if now is None else now
    limits = settings.dashboard.problems
    stats = inspector.stats()
    found: list[Problem] = []
    found += _leaderless(inspector)
    found += _dead_servers(inspector)
    for row in stats:
        found += _queue_problems(row, limits, now)
    found += _throttled(inspector, [r.queue for r in stats if r.throttled], limits, now)
    found += _stuck_tasks(inspector, stats, settings.worker.lease, now)
    states = inspector.entry_states() if entry_states is None else entry_states
    found += _missed_ticks(inspector, states, limits, now)
    found += _failed_workflows(inspector, [r.queue for r in stats], limits, now)
    found += _sync(inspector)
    order = {k: i for i, k in enumerate(PROBLEM_KINDS)}
    return sorted(found, key=lambda p: (SEVERITIES.index(p.severity), order[p.kind], p.subject))


def count_by_kind(problems: list[Problem]) -> dict[str, int]:
    """How many problems of each kind (every kind, 0 for those with none)."""
    counts = Counter(p.kind for p in problems)
    return {kind: counts.get(kind, 0) for kind in PROBLEM_KINDS}


def _queue_problems(row: QueueStats, limits: ProblemSettings, now: float) -> list[Problem]:
    out = []
    attempts = row.processed_today
    if attempts >= limits.min_attempts and row.failed_today / attempts > limits.error_rate:
        share = row.failed_today / attempts
        out.append(
            Problem(
                "error_rate",
                "critical",
                row.queue,
                f"queue {row.queue}: {row.failed_today} of {attempts} attempts failed today "
                f"({share:.0%}, over {limits.error_rate:.0%})",
                None,
            )
        )
    if row.pending and not row.paused:
        waited = now - row.latency if row.latency else None
        if not row.consumers and row.layout == "bingo":  # Go servers may serve asynq ones
            out.append(
                Problem(
                    "unserved_queue",
                    "critical",
                    row.queue,
                    f"queue {row.queue}: {row.pending} pending task(s) and no live worker "
                    "consumes it (add it to worker.queues)",
                    waited,
                )
            )
        if row.latency > limits.backlog:
            out.append(
                Problem(
                    "backlog",
                    "warning",
                    row.queue,
                    f"queue {row.queue}: the oldest of {row.pending} pending task(s) has "
                    f"waited {_duration(row.latency)} (over {_duration(limits.backlog)})",
                    None if waited is None else waited + limits.backlog,
                )
            )
    return out


def _throttled(
    inspector: Inspector, queues: list[str], limits: ProblemSettings, now: float
) -> list[Problem]:
    out = []
    for row in inspector.throttled(queues) if queues else []:
        if row.waited <= limits.throttled:
            continue
        key = f" (limit_key value {row.key!r})" if row.key is not None else ""
        out.append(
            Problem(
                "throttled",
                "warning",
                row.queue,
                f"queue {row.queue}: {row.held} task(s) of {row.type}{key} held back by its "
                f"limits; the first has waited {_duration(row.waited)} (over "
                f"{_duration(limits.throttled)})",
                now - row.waited + limits.throttled,
            )
        )
    return out


def _leaderless(inspector: Inspector) -> list[Problem]:
    entries = inspector.entry_keys()
    if not entries or inspector.leader().id:
        return []
    return [
        Problem(
            "leaderless",
            "critical",
            "scheduler",
            f"{len(entries)} schedule entr{'y' if len(entries) == 1 else 'ies'} and no "
            "scheduler leader: nothing fires (is a daemon with the scheduler running?)",
            None,
        )
    ]


def _dead_servers(inspector: Inspector) -> list[Problem]:
    out = []
    seen: set[tuple[str | None, int | None]] = set()
    # A process's worker record first: its role-only record (a dashboard's) is the same one.
    records = sorted(inspector.server_records(), key=lambda s: not s.is_worker)
    for server in records:
        if server.status != "dead" or (server.host and (server.host, server.pid) in seen):
            continue
        seen.add((server.host, server.pid))
        where = f" ({server.host} pid {server.pid})" if server.host else ""
        held = f"; it held {len(server.active)} active task(s)" if server.active else ""
        out.append(
            Problem(
                "dead_server",
                "warning",
                server.id,
                f"server {server.id}{where} stopped its heartbeat without a clean stop{held}",
                server.expires,
            )
        )
    return out


def _stuck_tasks(
    inspector: Inspector, stats: list[QueueStats], lease: float, now: float
) -> list[Problem]:
    out = []
    for row in stats:
        if not row.active:
            continue
        for task in inspector.tasks(row.queue, "active", limit=ACTIVE_READS):
            if not task.timeout or task.started_at is None:
                continue
            limit = task.started_at + task.timeout + lease
            if now > limit:
                out.append(
                    Problem(
                        "stuck_task",
                        "warning",
                        task.id,
                        f"task {task.id} ({task.type}) in queue {task.queue} has been active "
                        f"{_duration(now - task.started_at)}, past its timeout "
                        f"({_duration(task.timeout)}) plus the lease ({_duration(lease)})",
                        limit,
                    )
                )
    return out


def _missed_ticks(
    inspector: Inspector, states: list[EntryState], limits: ProblemSettings, now: float
) -> list[Problem]:
    out = []
    missing = [s for s in states if s.missed > 0]
    for n, state in enumerate(missing):
        since: float | None = None
        count = state.missed
        if n < HISTORY_READS:
            history = inspector.schedule_history(state.key, HISTORY_DEPTH)
            last = next((h for h in history if h.missed), None)
            if history and last is None:
                continue  # the misses are older than the history kept
            if last is not None:
                if (last.to or last.from_ or 0.0) < now - limits.missed_window:
                    continue
                since, count = last.from_, last.missed or count
        out.append(
            Problem(
                "missed_ticks",
                "warning",
                state.key,
                f"schedule {state.key} missed {count} tick(s) "
                "(no leader fired them within the misfire grace)",
                since,
            )
        )
    return out


def _failed_workflows(
    inspector: Inspector, queues: list[str], limits: ProblemSettings, now: float
) -> list[Problem]:
    out = []
    since = now - limits.workflow_window
    for view, step in failed_workflows(inspector.broker, queues, since, WORKFLOW_READS):
        what = f"step {view.failed_step}" if view.failed_step else "a step"
        if step is not None:
            what += f" ({step.type}, {step.state})"
        error = (step.error if step is not None else "") or view.error
        first = error.strip().splitlines()[0] if error.strip() else "no error recorded"
        if len(first) > ERROR_SHOWN:
            first = first[: ERROR_SHOWN - 1] + "…"
        out.append(
            Problem(
                "workflow_failed",
                "warning",
                view.id,
                f"workflow {view.id} in queue {view.queue} failed at {what}: {first}",
                view.ended,
            )
        )
    return out


def _sync(inspector: Inspector) -> list[Problem]:
    status = inspector.sync_status()
    if status is None:
        return []
    out = []
    if not status.healthy:
        out.append(
            Problem(
                "sync",
                "critical",
                "database",
                f"the sys_crontab sync cannot reach the database: {status.db_error or 'down'}",
                status.last_success,
            )
        )
    errors = status.errors or {}
    if errors:
        first = sorted(errors.items(), key=lambda kv: (len(kv[0]), kv[0]))
        shown = "; ".join(f"row {k}: {v}" for k, v in first[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        out.append(
            Problem(
                "sync",
                "warning",
                "sys_crontab",
                f"{len(errors)} sys_crontab row(s) skipped: {shown}{more}",
                None,
            )
        )
    return out


def _duration(seconds: float) -> str:
    """``seconds`` as ``42s``, ``5m 3s``, ``2h 10m`` or ``3d 4h``."""
    s = int(max(0.0, seconds))
    if s < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"

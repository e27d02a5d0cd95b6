"""Records of what is wrong now: the problems the overview, ``problems`` and ``/metrics``
show."""

from __future__ import annotations

from dataclasses import dataclass

from .base import Record

#: Every kind of problem, in the order they are listed.
PROBLEM_KINDS = (
    "leaderless",
    "dead_server",
    "unserved_queue",
    "error_rate",
    "stuck_task",
    "backlog",
    "throttled",
    "missed_ticks",
    "workflow_failed",
    "sync",
)
#: The severities, the worst first.
SEVERITIES = ("critical", "warning")


@dataclass(frozen=True, slots=True)
class Problem(Record):
    """One thing wrong now: its ``kind`` (see :data:`PROBLEM_KINDS`), ``severity``
    (critical or warning), ``subject`` (the queue, server, task, entry, workflow or part
    it is about), one line saying what is wrong, and ``since`` (epoch s: when the condition
    started, None when that is not known)."""

    kind: str
    severity: str
    subject: str
    message: str
    since: float | None

    @property
    def queue(self) -> str | None:
        """The queue the problem names (its subject), for the kinds about one queue."""
        return self.subject if self.kind in QUEUE_KINDS else None


#: The kinds whose subject is a queue name.
QUEUE_KINDS = frozenset({"error_rate", "unserved_queue", "backlog", "throttled"})

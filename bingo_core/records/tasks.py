"""Records of tasks: search pages, failures, moves, fetches and recoveries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .base import Record

if TYPE_CHECKING:
    from ..message import TaskInfo


@dataclass(frozen=True, slots=True)
class SearchResult:
    """The tasks a search found, how many it looked at, and where to go on (None: the
    state was read to its end)."""

    tasks: list[TaskInfo]
    scanned: int
    next: int | None


@dataclass(frozen=True, slots=True)
class SearchPage(Record):
    """The ids a search found, how many tasks it looked at, and where to go on (None: the
    state was read to its end)."""

    ids: list[str]
    scanned: int
    next: int | None


@dataclass(frozen=True, slots=True)
class Failure(Record):
    """A task whose last attempt failed, as the failures page shows it: its queue, id,
    type, state (``retry``: it will run again at ``next_attempt``; ``archived``: it will
    not), its error, when it failed (epoch s) and its retries."""

    queue: str
    id: str
    type: str
    state: str
    error: str
    failed_at: float | None
    retried: int
    max_retry: int
    next_attempt: float | None


@dataclass(frozen=True, slots=True)
class FailurePage(Record):
    """A page of failures from every queue asked, newest first: ``total`` match the
    filters among the ``scanned`` tasks looked at; ``complete`` is false when some
    queue held more failed tasks than were looked at (the newest are looked at)."""

    failures: list[Failure]
    total: int
    offset: int
    limit: int
    scanned: int
    complete: bool


@dataclass(frozen=True, slots=True)
class MoveResult(Record):
    """A move on many tasks: how many moved, and why each other one did not."""

    done: int
    skipped: dict[str, str]


@dataclass(frozen=True, slots=True)
class Leased:
    """One task a fetch leased: its id, raw message and retries so far, the time
    (``time.time()``) its handler may start, given by its rate limits (0: at once), and
    how late after it it may still start (half its spacing)."""

    id: str
    raw: bytes
    retried: int
    start_at: float = 0.0
    slack: float = 0.0


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one fetch did: the tasks it leased, the pending ids it could not lease (id,
    why; archived or dropped), and the next due scheduled or retry time (epoch s)."""

    leased: list[Leased]
    unusable: list[tuple[str, str]]
    next_due: float | None = None
    paused: bool = False

    @property
    def popped(self) -> int:
        """Ids taken off the pending list (leased or not)."""
        return len(self.leased) + len(self.unusable)


@dataclass(frozen=True, slots=True)
class RecoverResult:
    """What one recover call did: tasks with an expired lease requeued or archived
    (retries used up), completed tasks expired, task keys that were not a task hash
    (archived) and expired leases with no task record (dropped)."""

    requeued: int = 0
    archived: int = 0
    expired: int = 0
    malformed: int = 0
    missing: int = 0

    def __add__(self, other: RecoverResult) -> RecoverResult:
        return RecoverResult(*(a + b for a, b in zip(_counts(self), _counts(other), strict=True)))


def _counts(r: RecoverResult) -> tuple[int, int, int, int, int]:
    return (r.requeued, r.archived, r.expired, r.malformed, r.missing)

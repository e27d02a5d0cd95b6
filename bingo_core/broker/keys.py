"""Every Redis key Bingo uses, built in one place.

Per-queue keys carry the queue name as a hash tag (``P:{q}:...``) and the scheduler's keys
carry ``{scheduler}`` (``P:{scheduler}:...``), so that a queue's keys, and the scheduler's,
each live in one Redis Cluster slot and each Lua script touches a single slot.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property


@dataclass(frozen=True)
class QueueKeys:
    """Keys of one queue."""

    prefix: str
    queue: str

    @cached_property
    def base(self) -> str:
        return f"{self.prefix}:{{{self.queue}}}"

    @cached_property
    def task_prefix(self) -> str:
        """Prefix of task hashes; the task key is ``task_prefix + id``."""
        return f"{self.base}:t:"

    def task(self, task_id: str) -> str:
        return self.task_prefix + task_id

    @cached_property
    def pending(self) -> str:
        return f"{self.base}:pending"

    @cached_property
    def lease(self) -> str:
        return f"{self.base}:lease"

    @cached_property
    def scheduled(self) -> str:
        return f"{self.base}:scheduled"

    @cached_property
    def retry(self) -> str:
        return f"{self.base}:retry"

    @cached_property
    def archived(self) -> str:
        return f"{self.base}:archived"

    @cached_property
    def completed(self) -> str:
        return f"{self.base}:completed"

    @cached_property
    def paused(self) -> str:
        return f"{self.base}:paused"

    @cached_property
    def notify(self) -> str:
        return f"{self.base}:notify"

    @cached_property
    def processed(self) -> str:
        return f"{self.base}:processed"

    @cached_property
    def failed(self) -> str:
        return f"{self.base}:failed"

    def processed_on(self, day: str) -> str:
        return f"{self.base}:processed:{day}"

    def failed_on(self, day: str) -> str:
        return f"{self.base}:failed:{day}"

    def stats_on(self, day: str) -> str:
        """Per task type statistics of one day in the server's time zone (hash)."""
        return f"{self.base}:stats:{day}"

    @cached_property
    def stats_total(self) -> str:
        """Per task type statistics since the queue was first used (hash)."""
        return f"{self.base}:stats:total"

    @cached_property
    def unique_prefix(self) -> str:
        """Prefix of unique locks; the lock is ``unique_prefix + digest``."""
        return f"{self.base}:unique:"

    def unique(self, digest: str) -> str:
        """The unique lock of tasks whose type and payload hash to ``digest``."""
        return self.unique_prefix + digest

    def done(self, task_id: str) -> str:
        """Idempotency done-marker of a task."""
        return f"{self.base}:done:{task_id}"

    def tick(self, entry_key: str, fire_time: int) -> str:
        """Scheduler dedupe key of one (entry, fire time)."""
        digest = hashlib.sha1(entry_key.encode(), usedforsecurity=False).hexdigest()[:16]
        return f"{self.base}:tick:{digest}:{fire_time}"

    @cached_property
    def cancel(self) -> str:
        """Cancel requests for active tasks (zset id -> requested at), read by the worker."""
        return f"{self.base}:cancel"

    def by_state(self, state: str) -> str:
        """The list/zset holding tasks in ``state``."""
        return {
            "pending": self.pending,
            "active": self.lease,
            "scheduled": self.scheduled,
            "retry": self.retry,
            "archived": self.archived,
            "completed": self.completed,
        }[state]


@dataclass(frozen=True)
class Keys:
    """Global keys and a factory for per-queue keys."""

    prefix: str = "bingo"

    def queue(self, name: str) -> QueueKeys:
        return _queue_keys(self.prefix, name)

    @property
    def queues(self) -> str:
        return f"{self.prefix}:queues"

    @property
    def servers(self) -> str:
        return f"{self.prefix}:servers"

    def server(self, server_id: str) -> str:
        return f"{self.prefix}:server:{server_id}"

    @property
    def samples(self) -> str:
        """Capped list, newest first: one JSON sample of every queue's sizes per interval
        (the dashboard's last-hour chart)."""
        return f"{self.prefix}:samples"

    @property
    def servers_seen(self) -> str:
        """Hash: server id -> its last heartbeat record, kept a while after it stops so
        the dashboard can show it as dead or stopped."""
        return f"{self.prefix}:servers:seen"

    @property
    def scheduler(self) -> SchedulerKeys:
        """The scheduler's keys (leader lease, entries, cursors, history, sync status)."""
        return _scheduler_keys(self.prefix)


@dataclass(frozen=True)
class SchedulerKeys:
    """Keys of the scheduler state, all tagged ``{scheduler}`` (one Cluster slot)."""

    prefix: str

    @cached_property
    def base(self) -> str:
        return f"{self.prefix}:{{scheduler}}"

    @cached_property
    def leader(self) -> str:
        """The leader's daemon id, with the lease TTL."""
        return f"{self.base}:leader"

    @cached_property
    def epoch(self) -> str:
        """The fencing token, incremented at each acquisition of the lease."""
        return f"{self.base}:epoch"

    @cached_property
    def entries(self) -> str:
        """Set of the published entry keys."""
        return f"{self.base}:entries"

    @cached_property
    def cursors(self) -> str:
        """Hash: entry key -> the last tick a leader handled."""
        return f"{self.base}:cursors"

    @cached_property
    def sync(self) -> str:
        """JSON: the last ``sys_crontab`` sync status."""
        return f"{self.base}:sync"

    @cached_property
    def leader_since(self) -> str:
        """JSON: the leader id and epoch last seen, and since when (epoch s)."""
        return f"{self.base}:leader_since"

    def entry(self, key: str) -> str:
        """Hash of one published entry."""
        return f"{self.base}:entry:{key}"

    def history(self, key: str) -> str:
        """Capped list: one entry's enqueue history, newest first."""
        return f"{self.base}:history:{key}"


_sched_cache: dict[str, SchedulerKeys] = {}


def _scheduler_keys(prefix: str) -> SchedulerKeys:
    keys = _sched_cache.get(prefix)
    if keys is None:
        keys = _sched_cache[prefix] = SchedulerKeys(prefix)
    return keys


_cache: dict[tuple[str, str], QueueKeys] = {}


def _queue_keys(prefix: str, name: str) -> QueueKeys:
    keys = _cache.get((prefix, name))
    if keys is None:
        keys = _cache[(prefix, name)] = QueueKeys(prefix, name)
    return keys

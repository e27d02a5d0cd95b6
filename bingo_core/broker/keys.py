"""Every Redis key Bingo uses, built in one place.

Per-queue keys carry the queue name as a hash tag (``P:{q}:...``) and the scheduler's keys
carry ``{scheduler}`` (``P:{scheduler}:...``), so that a queue's keys, and the scheduler's,
each live in one Redis Cluster slot and each Lua script touches a single slot.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

#: How long a server's last record stays among the servers seen after its last beat (s).
SEEN_KEEP = 3600.0
#: The servers-seen hash's own expiry, refreshed by every write: twice the keep, a minute more.
SEEN_TTL = int(SEEN_KEEP * 2) + 60


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

    def wake(self, task_id: str) -> str:
        """Tokens for the clients waiting for a task to end (list, short TTL)."""
        return f"{self.base}:wake:{task_id}"

    def done(self, task_id: str) -> str:
        """Idempotency done-marker of a task."""
        return f"{self.base}:done:{task_id}"

    def tick(self, entry_key: str, fire_time: int) -> str:
        """Scheduler dedupe key of one (entry, fire time)."""
        digest = hashlib.sha1(entry_key.encode(), usedforsecurity=False).hexdigest()[:16]
        return f"{self.base}:tick:{digest}:{fire_time}"

    @cached_property
    def limit_prefix(self) -> str:
        """Prefix of the limit keys of a subject (a limited type, or type and key value):
        ``limit_prefix + subject + ":active" | ":next" | ":held"``."""
        return f"{self.base}:limit:"

    def limit(self, subject: str, part: str) -> str:
        """One limit key of ``subject``: ``active`` (zset of slot holders), ``next`` (the
        Redis time the next rate-limited start may have) or ``held`` (list of held-back
        ids)."""
        return f"{self.limit_prefix}{subject}:{part}"

    @cached_property
    def throttled(self) -> str:
        """Subjects with held-back tasks (zset lim field -> when to look again)."""
        return f"{self.base}:throttled"

    @cached_property
    def cancel(self) -> str:
        """Cancel requests for active tasks (zset id -> requested at), read by the worker."""
        return f"{self.base}:cancel"

    @cached_property
    def waiting(self) -> str:
        """Tasks waiting for their dependencies (zset id -> enqueued at)."""
        return f"{self.base}:waiting"

    @cached_property
    def dependents_prefix(self) -> str:
        """Prefix of the sets of a task's waiting dependents (``P:{q}:dependents:<id>``)."""
        return f"{self.base}:dependents:"

    def dependents(self, task_id: str) -> str:
        return f"{self.dependents_prefix}{task_id}"

    def workflow(self, workflow_id: str) -> str:
        """A workflow's record (hash: state, total, done, created, last, ...)."""
        return f"{self.base}:wf:{workflow_id}"

    def workflow_steps(self, workflow_id: str) -> str:
        """A workflow's step ids, in flow order (list)."""
        return f"{self.base}:wf:{workflow_id}:steps"

    @cached_property
    def workflows(self) -> str:
        """The queue's workflows (zset workflow id -> created at)."""
        return f"{self.base}:workflows"

    @cached_property
    def workflows_away(self) -> str:
        """The running workflows of another (home) queue with steps in this one (hash
        workflow id -> home queue; ``wf_enqueue.lua``, emptied by ``relay_in.lua``)."""
        return f"{self.base}:workflows:away"

    @cached_property
    def workflows_staged(self) -> str:
        """The parts of workflows whose home's call has not opened them yet (zset workflow
        id -> deadline; ``wf_enqueue.lua``, emptied by ``relay_in.lua`` and the sweep in
        :mod:`.staging`)."""
        return f"{self.base}:workflows:staged"

    def workflow_void(self, workflow_id: str) -> str:
        """Set when a sweep found no record for a staged workflow: the home's call is
        refused (string, kept a day; ``wf_void.lua``)."""
        return f"{self.base}:wf:{workflow_id}:void"

    @cached_property
    def relay(self) -> str:
        """The outbox of what this queue's scripts tell other queues (hash
        ``<queue>|<kind>|<ref>`` -> value; ``lua/_relay.lua``, delivered by ``relay.py``)."""
        return f"{self.base}:relay"

    @cached_property
    def relay_wake(self) -> str:
        """A token while the outbox has news (list; the relay loops BLPOP it)."""
        return f"{self.base}:relay:wake"

    @cached_property
    def workflow_ends(self) -> str:
        """When the record of each ended workflow expires (zset workflow id -> epoch s):
        the scripts drop the expired ones from :attr:`workflows` (``lua/_wf_trim.lua``)."""
        return f"{self.base}:workflows:ends"

    @cached_property
    def workflow_outcomes(self) -> str:
        """How many of the queue's workflows ended, by state (hash: completed, failed,
        cancelled)."""
        return f"{self.base}:workflows:outcomes"

    @cached_property
    def batches(self) -> str:
        """Batch groups holding items (zset group -> when it is due; ``lua/_batch.lua``)."""
        return f"{self.base}:batches"

    @cached_property
    def batch_prefix(self) -> str:
        """Prefix of a batch group's keys: ``i:<group>`` (list of its items), ``m:<group>``
        (hash: its rule and newest item's time); and ``seq`` (numbers the batch tasks)."""
        return f"{self.base}:batch:"

    def by_state(self, state: str) -> str:
        """The list/zset holding tasks in ``state``."""
        return {
            "pending": self.pending,
            "active": self.lease,
            "scheduled": self.scheduled,
            "retry": self.retry,
            "archived": self.archived,
            "completed": self.completed,
            "waiting": self.waiting,
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
    def dashboard_secret(self) -> str:
        """The dashboard's signing secret, with a digest of the keys it was drawn for
        (string; never the keys themselves)."""
        return f"{self.prefix}:dashboard:secret"

    def dashboard_session(self, ref: str) -> str:
        """One dashboard login (string: its role, expiring with the login); ``ref`` is a
        digest of the session id the cookie carries, never the id itself."""
        return f"{self.prefix}:dashboard:session:{ref}"

    @property
    def dashboard_sessions(self) -> str:
        """The SCAN pattern matching every dashboard login."""
        escaped = "".join(f"\\{c}" if c in "*?[]\\" else c for c in self.dashboard_session(""))
        return escaped + "*"

    @property
    def scheduler(self) -> SchedulerKeys:
        """The scheduler's keys (leader lease, entries, cursors, history, sync status)."""
        return _scheduler_keys(self.prefix)


@dataclass(frozen=True)
class AsynqQueueKeys(QueueKeys):
    """Keys of one queue in Asynq's layout (``asynq:{q}:...``). Asynq names most of them
    as Bingo does; it adds the ``active`` list and names unique locks by type and MD5."""

    @cached_property
    def active(self) -> str:
        """Ids being run (list); their leases are in :attr:`lease`."""
        return f"{self.base}:active"

    def unique_lock(self, task_type: str, md5_hex: str) -> str:
        """Asynq's unique lock: ``asynq:{q}:unique:<type>:<md5 hex of the payload>``."""
        return f"{self.unique_prefix}{task_type}:{md5_hex}"

    @cached_property
    def groups(self) -> str:
        """Names of the groups holding aggregating tasks (set)."""
        return f"{self.base}:groups"

    def group(self, name: str) -> str:
        """Aggregating task ids of one group -> enqueue time (zset)."""
        return f"{self.base}:g:{name}"


@dataclass(frozen=True)
class AsynqKeys:
    """Asynq's global keys (never configurable: every one starts with ``asynq:``)."""

    prefix: str = "asynq"

    def queue(self, name: str) -> AsynqQueueKeys:
        keys = _asynq_cache.get(name)
        if keys is None:
            keys = _asynq_cache[name] = AsynqQueueKeys("asynq", name)
        return keys

    @property
    def queues(self) -> str:
        """Every Asynq queue name (set); Asynq's tools refuse a queue not in it."""
        return f"{self.prefix}:queues"

    @property
    def servers(self) -> str:
        return f"{self.prefix}:servers"

    @property
    def workers(self) -> str:
        return f"{self.prefix}:workers"

    def server(self, name: str) -> str:
        """One server's ``ServerInfo`` (string); ``name`` is ``host:pid:server uuid``."""
        return f"{self.prefix}:servers:{{{name}}}"

    def worker(self, name: str) -> str:
        """One server's running tasks (hash: task id -> ``WorkerInfo``)."""
        return f"{self.prefix}:workers:{{{name}}}"


_asynq_cache: dict[str, AsynqQueueKeys] = {}


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

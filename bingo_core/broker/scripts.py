"""The Lua scripts in ``lua/``, read once, and the argument lists each one takes.

Each builder returns ``(script name, keys, args)``; :mod:`.broker` and :mod:`.schedstate`
run them on a sync or asyncio client. The header comment of each ``.lua`` file documents
its KEYS and ARGV. Every key a script touches is in its KEYS; where a script reaches keys
it only learns inside (the task hashes of ids it pops, a deleted task's unique lock), the
queue's tagged key prefix is in KEYS, so every call maps to one Cluster slot.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from importlib import resources
from typing import Any, NamedTuple

from .keys import AsynqQueueKeys, QueueKeys, SchedulerKeys

NAMES = (
    "enqueue",
    "enqueue_fast",
    "enqueue_deps",
    "batch_add",
    "wf_enqueue",
    "wf_cancel",
    "relay_in",
    "dep_link",
    "wf_void",
    "wf_unstage",
    "fetch",
    "late_start",
    "ack",
    "retry",
    "archive",
    "requeue",
    "recover",
    "task_move",
    "queue_delete",
    "stats_record",
    "sched_acquire",
    "sched_renew",
    "sched_release",
    "sched_publish",
    "sched_record",
    "task_move_many",
    "task_cancel",
    "sample_record",
    "leader_seen",
    "dash_secret",
    "wait_begin",
    "progress",
    "results",
    "asynq_enqueue",
    "asynq_fetch",
    "asynq_ack",
    "asynq_fail",
    "asynq_requeue",
    "asynq_expired",
)
#: The scripts that end a task: each starts with ``lua/_wake.lua`` (wakes its waiters).
#: (``queue_delete`` uses its ``bingo_unlink`` for the waiting tasks it deletes.)
WAKING = frozenset(
    {
        "ack",
        "archive",
        "recover",
        "task_move",
        "task_move_many",
        "task_cancel",
        "queue_delete",
        "wf_cancel",
        "relay_in",
    }
)
#: The scripts that may tell another queue something (``lua/_relay.lua``, put before
#: ``lua/_wake.lua``).
RELAYING = WAKING | {"wf_enqueue", "dep_link"}
DAY_TTL = 90 * 86400
#: How long the per-day task statistics are kept (seconds).
STATS_TTL = 40 * 86400
#: Upper bounds (seconds) of the task duration histogram's buckets; one more bucket above.
DURATION_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    1800.0,
)


#: The scripts that retry a task: ``lua/_wf_resume.lua`` (after ``_wake.lua`` and
#: ``lua/_wf_far.lua``) resumes a failed workflow whose archived step is retried;
#: ``relay_in`` resumes one whose steps are in several queues.
RESUMING = frozenset({"task_move", "task_move_many", "relay_in"})
#: The scripts that admit, hold or release limited tasks: ``lua/_limits.lua`` is put
#: before each of them.
LIMITED = frozenset({"fetch", "late_start", "ack", "retry", "archive", "requeue"})
#: The scripts that hold or cut batches: ``lua/_batch.lua`` is put before each of them.
BATCHING = frozenset({"fetch", "batch_add"})
#: The scripts that trim the index of a queue's workflows (``lua/_wf_trim.lua``, before
#: ``_wake.lua``): the one that writes a workflow and those that may end one.
TRIMMING = WAKING | {"wf_enqueue"}


def load_sources() -> dict[str, str]:
    """Script name -> Lua source. The scheduler's scripts share one guard
    (``lua/_scheduler_heal.lua``), put before each of them; the limited ones share
    ``lua/_limits.lua``, those of :data:`BATCHING` ``lua/_batch.lua``; the scripts that
    end a task (:data:`WAKING`) start with ``lua/_wake.lua``, after ``lua/_relay.lua``
    (:data:`RELAYING`) and ``lua/_wf_trim.lua`` (:data:`TRIMMING`, with ``wf_enqueue``)."""
    folder = resources.files(__package__).joinpath("lua")
    heal = folder.joinpath("_scheduler_heal.lua").read_text()
    limits = folder.joinpath("_limits.lua").read_text()
    wake = folder.joinpath("_wake.lua").read_text()
    resume = folder.joinpath("_wf_far.lua").read_text()
    resume += folder.joinpath("_wf_resume.lua").read_text()
    batch = folder.joinpath("_batch.lua").read_text()
    relay = folder.joinpath("_relay.lua").read_text()
    trim = folder.joinpath("_wf_trim.lua").read_text()
    return {
        name: (heal if name.startswith("sched_") else "")
        + (limits if name in LIMITED else "")
        + (batch if name in BATCHING else "")
        + (relay if name in RELAYING else "")
        + (trim if name in TRIMMING else "")
        + (wake if name in WAKING else "")
        + (resume if name in RESUMING else "")
        + folder.joinpath(f"{name}.lua").read_text()
        for name in NAMES
    }


SOURCES = load_sources()
Call = tuple[str, list[str], list[Any]]

_day_cache: dict[Any, tuple[int, str]] = {}


def today(zone: tzinfo | None = None) -> str:
    """The date (``YYYY-MM-DD``) in ``zone`` (UTC when None) used in the daily counter and
    statistics keys; cached per second."""
    now = int(time.time())
    cached = _day_cache.get(zone)
    if cached is None or cached[0] != now:
        if zone is None:
            day = time.strftime("%Y-%m-%d", time.gmtime(now))
        else:
            day = datetime.fromtimestamp(now, zone).strftime("%Y-%m-%d")
        cached = _day_cache[zone] = (now, day)
    return cached[1]


@dataclass(slots=True)
class Prepared:
    """One task ready for the enqueue script."""

    queue: str
    id: str
    msg: str
    process_at: float = 0.0
    #: Digest of the unique lock ("" = none) and its TTL.
    unique: str = ""
    unique_ttl_ms: int = 0
    #: Scheduler tick dedupe: entry key ("" = none), fire time (ms) and TTL.
    dedupe_entry: str = ""
    dedupe_ms: int = 0
    dedupe_ttl_ms: int = 0
    #: Generated id, run now, no unique lock, no dedupe: takes the fast script.
    simple: bool = False
    #: The ``lim`` field of a task of a limited type ("" = none; see ``limits.py``).
    lim: str = ""
    #: The ids of the tasks it waits for (the ``depends_on`` option): ``enqueue_deps.lua``.
    depends_on: tuple[str, ...] = ()
    #: An item of a batched type: held by ``batch_add.lua`` (see ``bingo_core/batches.py``).
    batch: BatchAdd | None = None
    #: Those of other queues, as (id, queue): linked there after the enqueue
    #: (``dep_link.lua``, :func:`.relays.link`).
    remote_deps: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class BatchAdd:
    """What ``batch_add.lua`` needs of one item besides its queue: its group (type and key
    value), its payload's JSON, the tail of the batch task's message (its type and
    options) and the type's rule."""

    group: str
    task_type: str
    key_value: str
    payload_json: str
    tail: str
    max_size: int
    max_wait: float
    grace: float


#: Tasks per enqueue script call; larger batches are split (and pipelined) so one call
#: never blocks Redis for long, and so Redis runs one chunk while the next is encoded.
CHUNK = 250
#: Enqueue codes (a string code is the id of the task that already holds the tick).
ENQUEUED, EXISTS, UNIQUE_HELD = 1, 0, -1
EnqueueCode = int | str


class Enqueued(int):
    """:data:`ENQUEUED` (it equals 1), naming the state a task with ``depends_on`` went
    to: ``waiting`` or ``archived`` (``enqueue_deps.lua``'s codes 2 and 3)."""

    state: str

    def __new__(cls, state: str) -> Enqueued:
        code = super().__new__(cls, ENQUEUED)
        code.state = state
        return code


#: ``enqueue_deps.lua``'s codes of a task enqueued waiting or archived at once.
DEPS_STATES = {2: "waiting", 3: "archived"}


class MissingDependency(str):
    """The enqueue code of a task refused because this dependency id does not exist (in
    ``queue`` when set: a dependency in another queue, :func:`.relays.link`)."""

    queue: str | None = None


def enqueue(q: QueueKeys, tasks: Sequence[Prepared], now: float) -> Call:
    """Tasks of one queue (all batch items, or none: the broker groups them so)."""
    if tasks and tasks[0].batch is not None:
        return batch_add(q, tasks, now)
    if all(t.simple for t in tasks):
        fast: list[Any] = []
        for t in tasks:
            fast += (t.id, t.msg)
        return "enqueue_fast", [q.pending, q.notify, q.task_prefix], fast
    if any(t.depends_on or t.remote_deps for t in tasks):
        return enqueue_deps(q, tasks, now)
    keys = [q.pending, q.scheduled, q.notify, q.task_prefix]
    args: list[Any] = [repr(now)]
    for t in tasks:
        u = d = 0
        if t.unique:
            keys.append(q.unique(t.unique))
            u = len(keys)
        if t.dedupe_entry:
            keys.append(q.tick(t.dedupe_entry, t.dedupe_ms))
            d = len(keys)
        args += (t.id, t.msg, repr(t.process_at), u, t.unique_ttl_ms, d, t.dedupe_ttl_ms, t.lim)
    return "enqueue", keys, args


def batch_add(q: QueueKeys, tasks: Sequence[Prepared], now: float) -> Call:
    """Items of batched types, one queue; see ``batch_add.lua`` (each distinct group,
    rule and message tail is sent once per call, each item refers to it)."""
    keys = [q.pending, q.notify, q.task_prefix, q.batches, q.batch_prefix]
    rows: dict[tuple[Any, ...], int] = {}
    items: list[Any] = []
    for t in tasks:
        b = t.batch
        assert b is not None
        row = (b.group, b.task_type, b.key_value, b.tail, b.max_size, b.max_wait, b.grace)
        index = rows.setdefault(row, len(rows) + 1)
        d = 0
        if t.dedupe_entry:
            keys.append(q.tick(t.dedupe_entry, t.dedupe_ms))
            d = len(keys)
        items += (index, b.payload_json, d, t.dedupe_ttl_ms, t.id)
    args: list[Any] = [repr(now), len(rows)]
    for group, task_type, key_value, tail, size, wait, grace in rows:
        args += (group, task_type, key_value, tail, size, repr(wait), repr(grace))
    return "batch_add", keys, args + items


def enqueue_deps(q: QueueKeys, tasks: Sequence[Prepared], now: float) -> Call:
    """Tasks of one queue, some with ``depends_on`` (no scheduler ticks among them)."""
    keys = [q.pending, q.scheduled, q.notify, q.task_prefix, q.waiting, q.archived]
    keys.append(q.dependents_prefix)
    args: list[Any] = [repr(now)]
    for t in tasks:
        u = 0
        if t.unique:
            keys.append(q.unique(t.unique))
            u = len(keys)
        args += (t.id, t.msg, repr(t.process_at), u, t.unique_ttl_ms, t.lim, len(t.depends_on))
        args += t.depends_on
        args.append(len(t.remote_deps))
        args += (dep for dep, _ in t.remote_deps)
    return "enqueue_deps", keys, args


def dep_link(q: QueueKeys, task_id: str, dependent_queue: str, dependent: str) -> Call:
    """Tell task ``task_id`` of ``q`` that a task of ``dependent_queue`` waits for it;
    see ``dep_link.lua``."""
    return "dep_link", [q.task_prefix], [task_id, dependent_queue, dependent]


#: A workflow's id starts with this (a task id is 32 hex digits).
WORKFLOW_ID_HEAD = "wf-"


def is_workflow_id(task_id: str) -> bool:
    return task_id.startswith(WORKFLOW_ID_HEAD)


@dataclass(frozen=True, slots=True)
class WorkflowPart:
    """What one ``wf_enqueue`` call writes besides the steps: ``home`` is "" for the call
    that writes the record (the home queue), else the home queue's name (a part: this
    queue's steps only). The home names the ``others`` queues holding steps, the
    ``on_failure_queue`` when it is another, and the ``total`` of steps."""

    home: str = ""
    others: tuple[str, ...] = ()
    on_failure_queue: str = ""
    total: int = 0
    #: Per step id: the other queues holding steps that wait for it.
    relays: dict[str, str] | None = None
    #: The home: each step's queue in flow order, as its index in (home, *others),
    #: comma-joined ("" = all in the home); the readers rebuild the flow order with it.
    placement: str = ""


def wf_enqueue(
    q: QueueKeys,
    workflow_id: str,
    steps: Sequence[Prepared],
    last: Sequence[str],
    final_group: bool,
    keep: float,
    on_failure: Prepared | None,
    now: float,
    shape: str = "",
    part: WorkflowPart = WorkflowPart(),
) -> Call:
    """A whole workflow, dependencies before dependents, or one queue's part of it; see
    ``wf_enqueue.lua``."""
    keys = [q.pending, q.notify, q.task_prefix, q.waiting, q.dependents_prefix]
    keys += (q.workflow(workflow_id), q.workflow_steps(workflow_id), q.workflows)
    keys.append(q.workflows_away)
    args: list[Any] = [repr(now), workflow_id, ",".join(last), "1" if final_group else "0"]
    args += (int(keep), on_failure.id if on_failure else "", on_failure.msg if on_failure else "")
    args.append(shape)
    args += (part.home, ",".join(part.others), part.on_failure_queue, part.total or len(steps))
    args.append(part.placement)
    relays = part.relays or {}
    ends = set(last) if part.home else ()
    for t in steps:
        flag = "1" if t.id in ends else "0"
        args += (t.id, t.msg, t.lim, relays.get(t.id, ""), flag, len(t.depends_on))
        args += t.depends_on
    return "wf_enqueue", keys, args


def wf_void(q: QueueKeys, workflow_id: str, keep: int) -> Call:
    """Whether the record of ``workflow_id`` exists in home queue ``q``; when not, the id
    is voided for ``keep`` seconds; see ``wf_void.lua``."""
    return "wf_void", [q.workflow(workflow_id), q.workflow_void(workflow_id)], [keep]


def wf_unstage(q: QueueKeys, workflow_id: str) -> Call:
    """Delete the staged part of ``workflow_id`` in ``q``; see ``wf_unstage.lua``."""
    return "wf_unstage", [q.task_prefix], [workflow_id]


def relay_in(q: QueueKeys, kind: str, ref: str, value: str) -> Call:
    """Deliver one outbox entry to queue ``q``; see ``relay_in.lua``."""
    return "relay_in", [q.task_prefix], [kind, ref, value]


def wf_cancel(q: QueueKeys, workflow_id: str) -> Call:
    """Cancel a running workflow; see ``wf_cancel.lua``."""
    return "wf_cancel", [q.task_prefix, q.workflow(workflow_id)], [workflow_id]


def enqueue_codes(call: Call, result: Any) -> list[EnqueueCode]:
    """Per-task codes from an enqueue call's result (the fast script returns a count)."""
    if call[0] == "enqueue_fast":
        return [ENQUEUED] * int(result)
    if call[0] == "enqueue_deps":
        return [
            MissingDependency(c.decode())
            if isinstance(c, bytes)
            else (Enqueued(DEPS_STATES[c]) if c in DEPS_STATES else c)
            for c in result
        ]
    return [c.decode() if isinstance(c, bytes) else c for c in result]


@dataclass(slots=True)
class AsynqPrepared:
    """One task ready for ``asynq_enqueue.lua``: an Asynq ``TaskMessage`` already encoded."""

    queue: str
    id: str
    msg: bytes
    #: Unix s (whole), 0 = now.
    process_at: int = 0
    #: The lock's key name ("" = none) and its TTL in whole seconds.
    unique_key: str = ""
    unique_ttl: int = 0


def asynq_enqueue(q: AsynqQueueKeys, tasks: Sequence[AsynqPrepared], now_ns: int) -> Call:
    keys = [q.pending, q.scheduled, q.task_prefix]
    args: list[Any] = [now_ns]
    for t in tasks:
        u = 0
        if t.unique_key:
            keys.append(t.unique_key)
            u = len(keys)
        args += (t.id, t.msg, t.process_at, u, t.unique_ttl)
    return "asynq_enqueue", keys, args


#: A queue's limits for ``fetch.lua``: concurrency, rate count, rate period (0: none).
QueueLimits = tuple[int, int, float]


def fetch(
    q: QueueKeys,
    n: int,
    now: float,
    lease_until: float,
    worker: str,
    limits: QueueLimits | None = None,
) -> Call:
    return (
        "fetch",
        [
            q.pending,
            q.lease,
            q.paused,
            q.scheduled,
            q.retry,
            q.notify,
            q.task_prefix,
            q.archived,
            q.limit_prefix,
            q.throttled,
            q.batches,
            q.batch_prefix,
        ],
        [now, n, lease_until, worker, *(limits or ())],
    )


def late_start(q: QueueKeys, task_id: str, limits: QueueLimits | None = None) -> Call:
    """A new start time for a rate-limited task its worker came to late."""
    rate = (limits[1], limits[2]) if limits else (0, 0)
    return ("late_start", [q.task(task_id), q.limit_prefix], [*rate])


#: One acked task: id, retention (s), unique digest ("" = none), result JSON ("" = none).
AckItem = tuple[str, float, str, str]


def ack(
    q: QueueKeys,
    items: Iterable[AckItem],
    worker: str,
    now: float,
    day: str | None = None,
    wake: bool = False,
) -> Call:
    """``wake``: the queue has its own limits (``worker.queueLimits``), so a worker may be
    waiting for the slots these tasks free."""
    keys = [
        q.lease,
        q.completed,
        q.processed,
        q.processed_on(day or today()),
        q.task_prefix,
        q.limit_prefix,
        q.throttled,
        q.pending,
        q.notify,
    ]
    plain: list[Any] = []
    other: list[Any] = []
    for task_id, retention, unique, result in items:
        if retention or unique:
            u = 0
            if unique:
                keys.append(q.unique(unique))
                u = len(keys)
            other += (task_id, retention, u, result if retention else "")
        else:
            plain.append(task_id)
    args: list[Any] = [now, worker, DAY_TTL, "1" if wake else "0", len(plain), *plain, *other]
    return "ack", keys, args


def _fail_keys(q: QueueKeys, target: str, day: str | None = None) -> list[str]:
    day = day or today()
    return [
        q.lease,
        target,
        q.processed,
        q.processed_on(day),
        q.failed,
        q.failed_on(day),
        q.task_prefix,
        q.limit_prefix,
        q.throttled,
        q.pending,
        q.notify,
    ]


def retry(
    q: QueueKeys,
    task_id: str,
    worker: str,
    at: float,
    error: str,
    now: float,
    day: str | None = None,
) -> Call:
    return "retry", _fail_keys(q, q.retry, day), [task_id, worker, at, error, now, DAY_TTL]


def archive(
    q: QueueKeys,
    task_id: str,
    worker: str,
    error: str,
    now: float,
    max_size: int,
    max_age: float,
    day: str | None = None,
) -> Call:
    return (
        "archive",
        _fail_keys(q, q.archived, day),
        [task_id, worker, error, now, max_size, now - max_age, DAY_TTL],
    )


def requeue(q: QueueKeys, ids: Sequence[str], worker: str) -> Call:
    keys = [q.lease, q.pending, q.notify, q.task_prefix, q.limit_prefix, q.throttled]
    return "requeue", keys, [worker, *ids]


def recover(q: QueueKeys, now: float, limit: int, error: str) -> Call:
    return (
        "recover",
        [q.lease, q.pending, q.archived, q.notify, q.completed, q.task_prefix],
        [now, limit, error],
    )


def task_move(q: QueueKeys, task_id: str, action: str, now: float, listed: str = "") -> Call:
    return (
        "task_move",
        [
            q.pending,
            q.scheduled,
            q.retry,
            q.archived,
            q.completed,
            q.notify,
            q.task_prefix,
            q.unique_prefix,
        ],
        [task_id, action, now, listed],
    )


def queue_delete(q: QueueKeys, force: bool, batch: int) -> Call:
    return (
        "queue_delete",
        [
            q.pending,
            q.lease,
            q.scheduled,
            q.retry,
            q.archived,
            q.completed,
            q.paused,
            q.notify,
            q.processed,
            q.failed,
            q.task_prefix,
            q.limit_prefix,
            q.throttled,
            q.batches,
            q.batch_prefix,
        ],
        ["1" if force else "0", batch],
    )


class StatsRow(NamedTuple):
    """One task type's figures of one flush: attempts, failures, duration sum and max (s),
    a count per duration bucket, and the last failure's error and when it was (epoch s;
    "" and 0 when none failed)."""

    type: str
    processed: int
    failed: int
    total: float
    peak: float
    buckets: list[int]
    error: str = ""
    error_at: float = 0.0


#: The most of a last error the statistics keep (characters).
STATS_ERROR_SIZE = 1000


def stats_record(q: QueueKeys, day: str, rows: Iterable[StatsRow | tuple[Any, ...]]) -> Call:
    """``rows``: each type's :class:`StatsRow` (or a tuple of its fields)."""
    args: list[Any] = [STATS_TTL, len(DURATION_BUCKETS) + 1]
    for row in rows:
        r = StatsRow(*row)
        error = r.error[:STATS_ERROR_SIZE] if r.error else ""
        at = repr(r.error_at) if error else "0"
        args += (r.type, r.processed, r.failed, repr(r.total), repr(r.peak), error, at, *r.buckets)
    return "stats_record", [q.stats_on(day), q.stats_total], args


# -- the scheduler's scripts (all keys tagged {scheduler}) --------------------------------
def sched_acquire(s: SchedulerKeys, daemon_id: str, ttl_ms: int) -> Call:
    return "sched_acquire", [s.leader, s.epoch], [daemon_id, ttl_ms]


def sched_renew(s: SchedulerKeys, daemon_id: str, token: int, ttl_ms: int) -> Call:
    return "sched_renew", [s.leader, s.epoch], [daemon_id, token, ttl_ms]


def sched_release(s: SchedulerKeys, daemon_id: str, token: int) -> Call:
    return "sched_release", [s.leader, s.epoch], [daemon_id, token]


def sched_publish(
    s: SchedulerKeys,
    daemon_id: str,
    token: int,
    entries: Sequence[tuple[str, str, str]],
    removed: Sequence[str],
) -> Call:
    """``entries``: (entry key, info JSON, fingerprint); ``removed``: entry keys."""
    keys = [s.leader, s.epoch, s.entries, s.cursors]
    args: list[Any] = [daemon_id, token, len(entries)]
    for key, info, fp in entries:
        keys.append(s.entry(key))
        args += (key, info, fp)
    for key in removed:
        keys += (s.entry(key), s.history(key))
        args.append(key)
    return "sched_publish", keys, args


def sched_record(
    s: SchedulerKeys,
    daemon_id: str,
    token: int,
    history_size: int,
    records: Sequence[tuple[str, list[Any]]],
) -> Call:
    """``records``: (entry key, its 7 values after the key; see ``sched_record.lua``)."""
    keys = [s.leader, s.epoch, s.cursors]
    args: list[Any] = [daemon_id, token, max(1, history_size)]
    for key, values in records:
        keys += (s.entry(key), s.history(key))
        args += (key, *values)
    return "sched_record", keys, args


# -- the dashboard's scripts ----------------------------------------------------------------
#: Most ids one ``task_move_many`` call carries.
MOVE_CHUNK = 500
#: How long a cancel request is kept for the worker to see (seconds).
CANCEL_KEEP = 3600.0


def task_move_many(q: QueueKeys, ids: Sequence[str], action: str, now: float) -> Call:
    """``action`` ("run", "archive" or "delete") on up to :data:`MOVE_CHUNK` tasks."""
    return (
        "task_move_many",
        [
            q.pending,
            q.scheduled,
            q.retry,
            q.archived,
            q.completed,
            q.notify,
            q.task_prefix,
            q.unique_prefix,
        ],
        [action, now, *ids],
    )


def task_cancel(q: QueueKeys, task_id: str, now: float, by: str, keep: float = CANCEL_KEEP) -> Call:
    """Cancel one task (``by``: who asked, for its error text); see ``task_cancel.lua``."""
    keys = [q.cancel, q.task_prefix, q.pending, q.scheduled, q.retry, q.archived]
    return "task_cancel", keys, [task_id, now, keep, by]


def sample_record(key: str, now: float, gap: float, keep: int, sample: str) -> Call:
    """Append ``sample`` (JSON with its time ``t``) to the capped list ``key``."""
    return "sample_record", [key], [now, gap, keep, sample]


def leader_seen(s: SchedulerKeys, now: float) -> Call:
    return "leader_seen", [s.leader, s.epoch, s.leader_since], [now]


def results(q: QueueKeys, ids: Sequence[str]) -> Call:
    """Read the kept results of tasks of one queue (JSON or None each, in order)."""
    return "results", [q.task(task_id) for task_id in ids], []


def dash_secret(key: str, seen: str, value: str) -> Call:
    """Store ``value`` in ``key`` only if it still holds ``seen`` ("" when absent)."""
    return "dash_secret", [key], [seen, value]


def wait_begin(q: QueueKeys, task_id: str) -> Call:
    """Where a task stands for a waiter, counting the waiter when it has not ended; see
    ``wait_begin.lua``."""
    record = q.workflow(task_id) if is_workflow_id(task_id) else q.task(task_id)
    return "wait_begin", [record, q.wake(task_id)], []


def progress(q: QueueKeys, task_id: str, worker: str, progress_json: str) -> Call:
    """Keep a held task's progress; see ``progress.lua``."""
    return "progress", [q.task(task_id)], [worker, progress_json]

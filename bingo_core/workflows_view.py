"""Reading and cancelling workflows (``bingo-scheduler workflows list|show|cancel``,
``/metrics``, the dashboard's workflow pages and the ``workflow_failed`` problem): their
records ``P:{q}:wf:<id>``, step lists and per queue outcome counts."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any

from .broker import CONNECTION_ERRORS, connection, relays, scripts
from .broker.base import _s
from .errors import TaskNotFound, UsageError
from .message import TaskInfo
from .workflow import Node, parse_shape

if TYPE_CHECKING:
    from .broker import Broker

#: Ended workflows are counted under these outcomes; "resumed" counts the failed ones a
#: retried step resumed (each end is counted: a failure stays counted when it resumes).
OUTCOMES = ("completed", "failed", "cancelled", "resumed")
#: A workflow's states.
STATES = ("running", "completed", "failed", "cancelled")
#: Most workflows one list looks at: the newest of every queue (or those whose id starts
#: with the prefix searched); a list says when there were more.
LIST_SCAN = 2000
#: The record's fields a list reads.
LIST_FIELDS = ("state", "total", "done", "created", "ended", "error", "failed_step")


@dataclass(frozen=True, slots=True)
class StepView:
    id: str
    type: str
    state: str
    error: str = ""
    queue: str = ""


@dataclass(frozen=True, slots=True)
class WorkflowView:
    id: str
    queue: str
    state: str
    total: int
    done: int
    created: float
    ended: float | None
    error: str = ""
    failed_step: str = ""
    on_failure_id: str = ""
    #: The flow's structure (``workflow.shape_of``); empty in records written before it.
    shape: str = ""
    steps: list[StepView] = field(default_factory=list)

    @property
    def duration(self) -> float | None:
        """Seconds from created to ended (None while it runs); never below 0 (``created``
        is the client's clock, ``ended`` the ending script's: they may differ a little)."""
        return None if self.ended is None else max(0.0, self.ended - self.created)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "duration": self.duration}


def _view(workflow_id: str, queue: str, raw: dict[Any, Any]) -> WorkflowView:
    f = {_s(k): _s(v) for k, v in raw.items() if v is not None}
    return WorkflowView(
        workflow_id,
        queue,
        f.get("state", "?"),
        int(f.get("total") or 0),
        int(f.get("done") or 0),
        float(f.get("created") or 0),
        float(f["ended"]) if f.get("ended") else None,
        f.get("error", ""),
        f.get("failed_step", ""),
        f.get("on_failure_id", ""),
        f.get("shape", ""),
    )


def _refuse(workflow_id: str) -> None:
    if not scripts.is_workflow_id(workflow_id):
        raise UsageError(f"{workflow_id!r} is not a workflow id (they start with 'wf-')")


def list_workflows(broker: Broker, queues: Iterable[str], limit: int = 50) -> list[WorkflowView]:
    """The newest ``limit`` workflows of each queue whose record is kept, newest first."""
    out: list[WorkflowView] = []
    try:
        for queue in queues:
            q = broker.q(queue)
            ids = [_s(i) for i in broker.redis.zrevrange(q.workflows, 0, limit - 1)]
            if not ids:
                continue
            pipe = broker.redis.pipeline(transaction=False)
            for wf in ids:
                pipe.hgetall(q.workflow(wf))
            for wf, raw in zip(ids, pipe.execute(), strict=True):
                if raw:
                    out.append(_view(wf, queue, raw))
    except CONNECTION_ERRORS as exc:
        raise connection.unavailable(broker.cfg, exc) from None
    out.sort(key=lambda w: w.created, reverse=True)
    return out[:limit]


def _in_order(
    broker: Broker, home: str, workflow_id: str, raw: dict[bytes, bytes]
) -> list[tuple[str, str]]:
    """(queue, step id) of each step in flow order: the home's steps list, merged with the
    other queues' by the record's ``placement`` when its steps span queues."""
    queues = [home, *filter(None, _s(raw.get(b"queues") or b"").split(","))]
    lists = [
        [_s(i) for i in broker.redis.lrange(broker.q(q).workflow_steps(workflow_id), 0, -1)]
        for q in queues
    ]
    placement = [int(i) for i in _s(raw.get(b"placement") or b"").split(",") if i.isdigit()]
    if len(queues) == 1 or len(placement) != sum(map(len, lists)):
        return [(q, i) for q, ids in zip(queues, lists, strict=True) for i in ids]
    taken = [0] * len(queues)
    out = []
    for k in placement:
        if k >= len(queues) or taken[k] >= len(lists[k]):
            return [(q, i) for q, ids in zip(queues, lists, strict=True) for i in ids]
        out.append((queues[k], lists[k][taken[k]]))
        taken[k] += 1
    return out


def find_workflow(broker: Broker, queues: Iterable[str], workflow_id: str) -> WorkflowView:
    """One workflow with its steps' states; :class:`TaskNotFound` when no queue keeps it."""
    return workflow_detail(broker, queues, workflow_id).view


def step_duration(info: TaskInfo) -> float | None:
    """How long a step's last attempt ran (None: it has not ended)."""
    end = info.completed_at or info.failed_at
    return end - info.started_at if end and info.started_at else None


def result_text(value: Any) -> str:
    """A step's result as one line of JSON ("" for none)."""
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the last one an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def cancel_workflow(broker: Broker, queues: Iterable[str], workflow_id: str) -> tuple[str, bool]:
    """Cancel a running workflow: (its queue, whether it was running)."""
    view = find_workflow(broker, queues, workflow_id)
    code = int(broker._call(scripts.wf_cancel(broker.q(view.queue), workflow_id)))
    relays.deliver(broker, [view.queue])  # its steps in other queues (the workers would too)
    if code < 0:
        raise TaskNotFound(f"no workflow {workflow_id!r} in queue {view.queue!r}")
    return view.queue, code == 1


def outcomes(broker: Broker, queues: Iterable[str]) -> dict[str, dict[str, int]]:
    """Queue -> outcome -> how many workflows ended so."""
    queues = list(queues)
    pipe = broker.redis.pipeline(transaction=False)
    for queue in queues:
        pipe.hgetall(broker.q(queue).workflow_outcomes)
    out: dict[str, dict[str, int]] = {}
    for queue, raw in zip(queues, pipe.execute(), strict=True):
        if raw:
            counts = {_s(k): int(v) for k, v in raw.items()}
            out[queue] = {o: counts.get(o, 0) for o in OUTCOMES}
    return out


@dataclass(frozen=True, slots=True)
class WorkflowPage:
    """A page of workflows, newest first: ``total`` match among the ``scanned`` looked
    at; ``complete`` when that was every workflow kept (else the newest ``LIST_SCAN``)."""

    workflows: list[WorkflowView]
    total: int
    scanned: int
    complete: bool
    offset: int
    limit: int


def _glob(text: str) -> str:
    """``text`` matched literally in a Redis ``MATCH`` pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _newest(
    broker: Broker, queues: Iterable[str], prefix: str, scan: int
) -> tuple[list[tuple[float, str, str]], bool]:
    """(created, id, queue) of the newest ``scan`` workflows of ``queues`` (those whose id
    starts with ``prefix``), newest first; and whether that was all of them."""
    found: list[tuple[float, str, str]] = []
    complete = True
    for queue in queues:
        key = broker.q(queue).workflows
        if prefix:
            it = broker.redis.zscan_iter(key, match=_glob(prefix) + "*", count=1000)
            got = list(islice(it, scan + 1))
        else:
            got = broker.redis.zrevrange(key, 0, scan, withscores=True)
        complete = complete and len(got) <= scan
        found += [(float(score), _s(wf), queue) for wf, score in got[:scan]]
    found.sort(reverse=True)
    return found[:scan], complete and len(found) <= scan


def _read(
    broker: Broker, found: list[tuple[float, str, str]], fields: tuple[str, ...]
) -> list[Any]:
    """``fields`` of each record of ``found`` (a list of values, None for a field absent:
    the first is None when the record expired), pipelined in parts."""
    keys = {queue: broker.q(queue) for queue in {q for _, _, q in found}}
    out: list[Any] = []
    for start in range(0, len(found), 1000):
        pipe = broker.redis.pipeline(transaction=False)
        for _, wf, queue in found[start : start + 1000]:
            pipe.hmget(keys[queue].workflow(wf), fields)
        out += pipe.execute()
    return out


def search_workflows(
    broker: Broker,
    queues: Iterable[str],
    *,
    state: str = "",
    prefix: str = "",
    offset: int = 0,
    limit: int = 50,
    scan: int = LIST_SCAN,
) -> WorkflowPage:
    """The workflows kept in ``queues``, newest first, in ``state`` (any when empty) and
    with an id starting with ``prefix`` (any when empty); a page of them. Only each
    record's state is read to filter and count; the whole record only for the page."""
    try:
        found, complete = _newest(broker, queues, prefix, scan)
        states = _read(broker, found, ("state",))
        kept = [
            item
            for item, (s,) in zip(found, states, strict=True)
            if s is not None and (not state or _s(s) == state)
        ]
        page = kept[offset : offset + limit]
        records = _read(broker, page, LIST_FIELDS)
    except CONNECTION_ERRORS as exc:
        raise connection.unavailable(broker.cfg, exc) from None
    views = [
        _view(wf, queue, dict(zip(LIST_FIELDS, values, strict=True)))
        for (_, wf, queue), values in zip(page, records, strict=True)
        if values[0] is not None
    ]
    return WorkflowPage(views, len(kept), len(found), complete, offset, limit)


@dataclass(frozen=True, slots=True)
class WorkflowDetail:
    """One workflow with its steps as tasks (None: gone) in flow order, its on_failure
    step (None: none or gone) and its flow's tree (None: not recorded)."""

    view: WorkflowView
    ids: list[str]
    tasks: list[TaskInfo | None]
    on_failure: TaskInfo | None
    tree: Node | None
    #: The on_failure step's type, from the record (its task is written on failure).
    on_failure_type: str = ""
    #: The on_failure step's queue ("" when there is none).
    on_failure_queue: str = ""


def workflow_detail(broker: Broker, queues: Iterable[str], workflow_id: str) -> WorkflowDetail:
    """One workflow with everything known of its steps (its view's ``steps`` too);
    :class:`TaskNotFound` when no queue keeps it."""
    _refuse(workflow_id)
    try:
        for queue in queues:
            q = broker.q(queue)
            raw = broker.redis.hgetall(q.workflow(workflow_id))
            if not raw:
                continue
            view = _view(workflow_id, queue, raw)
            placed = _in_order(broker, queue, workflow_id, raw)
            ids = [i for _, i in placed]
            failure_queue = _s(raw.get(b"on_failure_queue") or b"") or queue
            wanted: dict[str, list[str]] = {}
            for where, task_id in placed:
                wanted.setdefault(where, []).append(task_id)
            if view.on_failure_id:
                wanted.setdefault(failure_queue, []).append(view.on_failure_id)
            by_id = {
                (where, t.id): t
                for where, some in wanted.items()
                for t in broker.reader.get_tasks(where, some)
            }
            tasks = [by_id.get(p) for p in placed]
            failure = by_id.get((failure_queue, view.on_failure_id or ""))
            view.steps.extend(
                StepView(i, t.type, t.state, t.error or "", where)
                if t
                else StepView(i, "?", "gone", queue=where)
                for (where, i), t in zip(placed, tasks, strict=True)
            )
            tree = parse_shape(view.shape, len(ids))
            kind = _message_type(raw.get(b"on_failure"))
            failure_at = failure_queue if view.on_failure_id else ""
            return WorkflowDetail(view, ids, tasks, failure, tree, kind, failure_at)
    except CONNECTION_ERRORS as exc:
        raise connection.unavailable(broker.cfg, exc) from None
    raise TaskNotFound(f"no workflow {workflow_id!r} in any queue (kept a day after it ends)")


def failure_unused(state: str) -> str:
    """The state shown for an on_failure step that has no task in a workflow in
    ``state``: "not run" (it did not fail), else "gone" (deleted)."""
    return "not run" if state in ("running", "completed", "cancelled") else "gone"


def _message_type(raw: bytes | None) -> str:
    """The task type a stored message names ("" when it names none)."""
    try:
        found = json.loads(raw) if raw else None
    except ValueError:
        return ""
    return str(found.get("type") or "") if isinstance(found, dict) else ""


def failed_workflows(
    broker: Broker, queues: Iterable[str], since: float, reads: int
) -> list[tuple[WorkflowView, TaskInfo | None]]:
    """The workflows that failed at or after ``since`` among the newest ``reads`` of each
    queue that ever had one fail, each with its failed step (None: gone)."""
    out: list[tuple[WorkflowView, TaskInfo | None]] = []
    failing = [q for q, counts in outcomes(broker, queues).items() if counts["failed"]]
    for queue in failing:
        page = search_workflows(broker, [queue], state="failed", limit=reads, scan=reads)
        for view in page.workflows:
            if view.ended is None or view.ended < since:
                continue
            step = None
            if view.failed_step:
                step = broker.reader.get_task(queue, view.failed_step, missing_ok=True)
            out.append((view, step))
    return out


def state_counts(broker: Broker, queues: Iterable[str], scan: int = 1000) -> dict[str, int]:
    """How many of the newest ``scan`` workflows kept are in each state."""
    try:
        found, _ = _newest(broker, queues, "", scan)
        states = _read(broker, found, ("state",))
    except CONNECTION_ERRORS as exc:
        raise connection.unavailable(broker.cfg, exc) from None
    counts = dict.fromkeys(STATES, 0)
    for (value,) in states:
        if value is not None:
            counts[_s(value)] = counts.get(_s(value), 0) + 1
    return counts

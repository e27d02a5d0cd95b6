"""Workflows: steps in chains and groups, nesting freely (``bingo.step``, ``bingo.chain``,
``bingo.group``), compiled into tasks linked by ``depends_on`` edges and written by one
``wf_enqueue.lua`` call per queue (``Client.enqueue_workflow``): the other queues' parts
first, the home queue (the first step's, which keeps the record) last.

A chain runs its items one after another: each item waits for everything the item before
it ends with. A group runs its items side by side, and ends with all of their ends; a step
after a group waits for every member (a chord). A step's handler gets the results of the
steps it waited for as ``ctx.parents``, in flow order.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from . import options as opts
from .broker.keys import QueueKeys
from .broker.scripts import WORKFLOW_ID_HEAD, Call, Prepared, WorkflowPart, wf_enqueue
from .errors import BingoError, OptionError
from .message import workflow_tail


class TaskBuilder(Protocol):
    """What compiling needs of ``building.TaskBuilder``."""

    def template(
        self, task_type: str, options: Mapping[str, Any] | None = ..., *, where: str = ...
    ) -> Any: ...

    def is_asynq(self, template: Any) -> bool: ...

    def refuse_large(self, task_type: str, payload_json: str) -> None: ...


#: Options a step may not take: the workflow sets its id and what it waits for, a step
#: starts when its parents complete, and a unique lock would drop a step silently.
REFUSED = ("task_id", "depends_on", "process_at", "process_in", "unique")
#: How long a workflow's record is kept after it ends, at least (s).
RECORD_KEEP = 86400.0
_HEADERS = opts.BY_NAME["headers"]


@dataclass(frozen=True, slots=True)
class Step:
    """One task of a workflow: its type, payload and enqueue options."""

    type: str
    payload: Any = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Chain:
    """Items run one after another."""

    items: tuple[Flow, ...]


@dataclass(frozen=True, slots=True)
class Group:
    """Items run side by side; what follows waits for all of them."""

    items: tuple[Flow, ...]


Flow = Step | Chain | Group


def step(type: str, payload: Any = None, **options: Any) -> Step:
    """One step: a task of ``type`` with ``payload`` and enqueue ``options``."""
    return Step(type, payload, options)


def chain(*items: Flow) -> Chain:
    """Run ``items`` one after another."""
    return Chain(tuple(items))


def group(*items: Flow | Iterable[Flow]) -> Group:
    """Run ``items`` (or the items of one iterable) side by side."""
    if len(items) == 1 and not isinstance(items[0], Step | Chain | Group):
        return Group(tuple(items[0]))
    return Group(tuple(items))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class WorkflowInfo:
    """A workflow just enqueued: its id (for ``Client.wait``) and its steps' task ids, in
    flow order."""

    id: str
    task_ids: list[str]
    queue: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``id``, ``queue``, ``task_ids``."""
        return {"id": self.id, "queue": self.queue, "task_ids": list(self.task_ids)}


@dataclass(slots=True)
class Compiled:
    """A flow turned into tasks, dependencies first; ``queue`` is its home queue."""

    id: str
    queue: str
    steps: list[Prepared]
    last: list[str]
    final_group: bool
    keep: float
    on_failure: Prepared | None
    #: The flow's structure (:func:`shape_of`), kept in the record for the dashboard.
    shape: str = ""


def _at(path: str, exc: BingoError) -> BingoError:
    """The same error, its one line led by the step's path."""
    named = exc.__class__.__new__(exc.__class__)
    Exception.__init__(named, f"{path}: {exc}")
    named.__dict__.update(exc.__dict__)
    return named


def new_workflow_id() -> str:
    return WORKFLOW_ID_HEAD + os.urandom(16).hex()


class _Compiler:
    def __init__(
        self,
        builder: TaskBuilder,
        workflow_id: str,
        now: float,
        headers: Mapping[str, str],
        carried: Mapping[str, str],
    ) -> None:
        self.builder = builder
        #: The workflow's headers (under each step's own) and the trace context (over them).
        self.headers = headers
        self.carried = carried
        self.id = workflow_id
        self.now = now
        self.steps: list[Prepared] = []
        self.queue: str | None = None
        self.queue_of: dict[str, str] = {}
        self.keep = 0.0
        #: Each parents list's end of the message (``message.workflow_tail``).
        self.tails: dict[tuple[str, ...], str] = {}

    def task(self, item: Step, path: str, parents: list[str]) -> Prepared:
        if not isinstance(item, Step):
            raise OptionError(f"{path}: expected bingo.step, chain or group, got {item!r}")
        where = f"{path} ({item.type})"
        for name in REFUSED:
            if name in item.options:
                raise OptionError(
                    f"{where}: option {name} is not allowed on a workflow step "
                    f"(the workflow orders its steps)"
                )
        try:
            template = self.builder.template(item.type, item.options, where=where)
            tt = template.task_type
            value = tt.validate_payload(item.payload)
        except BingoError as exc:
            raise _at(path, exc) from None
        queue = template.message.queue
        if self.builder.is_asynq(template):
            raise OptionError(
                f"{where}: queue {queue!r} is in asynq.queues (Asynq's layout), which has "
                f"no workflows"
            )
        if tt.batch is not None:
            raise OptionError(
                f"{where}: task type {tt.name!r} is batched (its items are held and run "
                f"together), so it cannot be a workflow step"
            )
        if self.queue is None:
            self.queue = queue
        payload_json = tt.dump_payload(value)
        try:
            self.builder.refuse_large(tt.name, payload_json)
        except BingoError as exc:
            raise _at(path, exc) from None
        headers = None
        if self.headers or self.carried:
            own = template.options["headers"] or {}
            try:
                headers = _HEADERS.check({**self.headers, **own, **self.carried})
            except BingoError as exc:
                raise _at(path, exc) from None
        prepared: Prepared = template.prepare(payload_json, self.now, headers=headers)
        # a parent in another queue is named id@queue (the worker reads its result there)
        named = tuple(
            p if self.queue_of[p] == queue else f"{p}@{self.queue_of[p]}" for p in parents
        )
        tail = self.tails.get(named)
        if tail is None:  # (a group's members share theirs)
            tail = self.tails[named] = workflow_tail(self.id, named)
        prepared.msg = prepared.msg[:-1] + tail
        prepared.depends_on = tuple(parents)
        self.queue_of[prepared.id] = queue
        self.keep = max(self.keep, float(template.options["retention"] or 0))
        return prepared

    def flow(self, item: Flow, path: str, parents: list[str]) -> list[str]:
        """Compile ``item`` after ``parents``; return the ids it ends with."""
        if isinstance(item, Chain | Group) and not item.items:
            kind = "chain" if isinstance(item, Chain) else "group"
            raise OptionError(f"{path}: empty {kind}")
        if isinstance(item, Chain):
            for i, sub in enumerate(item.items):
                parents = self.flow(sub, f"{path}[{i}]", parents)
            return parents
        if isinstance(item, Group):
            ends: list[str] = []
            for i, sub in enumerate(item.items):
                ends += self.flow(sub, f"{path}[{i}]", parents)
            return ends
        prepared = self.task(item, path, parents)
        self.steps.append(prepared)
        return [prepared.id]


def _ends_with_group(flow: Flow) -> bool:
    while isinstance(flow, Chain):
        flow = flow.items[-1]
    return isinstance(flow, Group)


def compile_flow(
    builder: TaskBuilder,
    flow: Flow,
    on_failure: Step | None = None,
    headers: Mapping[str, str] | None = None,
    carried: Mapping[str, str] | None = None,
    *,
    workflow_id: str | None = None,
) -> Compiled:
    """Validate the whole flow and turn it into tasks; raises :class:`OptionError`,
    :class:`PayloadError` or :class:`UnknownTaskType` naming the step by its path
    (``steps[1][3]``: the second item of the flow, the fourth of that group).
    ``headers`` go to every step (and ``on_failure``) under the step's own ``headers``
    option; ``carried`` (the trace context) over them. ``workflow_id``: the id to give it
    (a scheduler tick's), else a new random one."""
    if not isinstance(flow, Step | Chain | Group):
        raise OptionError(f"enqueue_workflow: expected bingo.step, chain or group, got {flow!r}")
    given: dict[str, str] = {}
    if headers is not None:
        try:
            given = _HEADERS.check(headers)
        except OptionError as exc:
            raise OptionError(f"enqueue_workflow: {exc}") from None
    compiler = _Compiler(
        builder, workflow_id or new_workflow_id(), time.time(), given, dict(carried or {})
    )
    root = flow if isinstance(flow, Chain | Group) else Chain((flow,))
    last = compiler.flow(root, "steps", [])
    failure = None
    if on_failure is not None:
        if not isinstance(on_failure, Step):
            raise OptionError(f"on_failure: expected bingo.step, got {on_failure!r}")
        failure = compiler.task(on_failure, "on_failure", [])
        failure.depends_on = ()
    assert compiler.queue is not None
    return Compiled(
        compiler.id,
        compiler.queue,
        compiler.steps,
        last,
        _ends_with_group(root),
        max(compiler.keep, RECORD_KEEP),
        failure,
        shape_of(root),
    )


#: How a shape writes a step, and opens and closes a chain and a group.
STEP_MARK, CHAIN_MARKS, GROUP_MARKS = ".", "[]", "{}"


def shape_of(flow: Flow) -> str:
    """The flow's structure in a few characters: a step is ``.``, a chain ``[...]``, a
    group ``{...}`` (``[.{..[..]}.]``); its steps are the record's steps list, in order."""
    if isinstance(flow, Step):
        return STEP_MARK
    marks = CHAIN_MARKS if isinstance(flow, Chain) else GROUP_MARKS
    return marks[0] + "".join(shape_of(item) for item in flow.items) + marks[1]


@dataclass(slots=True)
class Node:
    """One item of a recorded flow: ``kind`` step (``index``: its place in the steps
    list), chain or group (its ``items``)."""

    kind: str
    index: int = -1
    items: list[Node] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The tree as JSON (the dashboard's API and ``workflows show --json``): a step
        ``{"kind": "step", "index": i}``, a chain or group ``{"kind", "items"}``."""
        if self.kind == "step":
            return {"kind": "step", "index": self.index}
        return {"kind": self.kind, "items": [n.as_dict() for n in self.items]}


def parse_shape(shape: str, steps: int) -> Node | None:
    """The tree a :func:`shape_of` string describes, or None when it does not describe
    ``steps`` steps (a record written without one, or damaged)."""
    stack = [Node("chain")]
    count = 0
    for mark in shape:
        if mark == STEP_MARK:
            stack[-1].items.append(Node("step", count))
            count += 1
        elif mark in (CHAIN_MARKS[0], GROUP_MARKS[0]):
            node = Node("chain" if mark == CHAIN_MARKS[0] else "group")
            stack[-1].items.append(node)
            stack.append(node)
        elif mark in (CHAIN_MARKS[1], GROUP_MARKS[1]) and len(stack) > 1:
            closes = "chain" if mark == CHAIN_MARKS[1] else "group"
            if stack.pop().kind != closes:
                return None
        else:
            return None
    if len(stack) != 1 or count != steps or len(stack[0].items) != 1:
        return None
    return stack[0].items[0]


def flow_data(flow: Flow) -> Any:
    """The flow as plain data, in the YAML ``workflow:`` form (``{"chain": [...]}``,
    ``{"group": [...]}``, ``{"type": ..., "payload": ..., <options>}``): what a schedule
    entry's fingerprint hashes."""
    if isinstance(flow, Chain | Group):
        kind = "chain" if isinstance(flow, Chain) else "group"
        return {kind: [flow_data(item) for item in flow.items]}
    if isinstance(flow, Step):
        return {"type": flow.type, "payload": flow.payload, **flow.options}
    return repr(flow)


def first_step(flow: Flow) -> Step:
    """The step a flow starts with (its first item's first item, ...)."""
    while isinstance(flow, Chain | Group):
        flow = flow.items[0]
    return flow


def flow_label(flow: Flow, limit: int = 120) -> str:
    """A short line naming the flow's steps: ``workflow: a -> group(b, c) -> d``."""

    def text(item: Flow) -> str:
        if isinstance(item, Chain):
            return " -> ".join(text(i) for i in item.items)
        if isinstance(item, Group):
            members = [text(i) for i in item.items]
            if len(members) > 1 and len(set(members)) == 1:
                return f"group({members[0]} x{len(members)})"
            return f"group({', '.join(members)})"
        return item.type if isinstance(item, Step) else "?"

    line = f"workflow: {text(flow)}"
    return line if len(line) <= limit else line[: limit - 3] + "..."


def workflow_calls(
    compiled: Compiled, q: Callable[[str], QueueKeys], now: float
) -> list[tuple[str, Call]]:
    """The ``wf_enqueue`` calls that write ``compiled``, one per queue: the other queues'
    parts first (their first steps wait for the workflow id, which the home's call opens
    through the relay), the home last, so nothing runs before the record exists."""
    home = compiled.queue
    by_queue: dict[str, list[Prepared]] = {}
    queue_of = {t.id: t.queue for t in compiled.steps}
    relays: dict[str, set[str]] = {}
    for t in compiled.steps:
        by_queue.setdefault(t.queue, []).append(t)
        for p in t.depends_on:
            if queue_of[p] != t.queue:
                relays.setdefault(p, set()).add(t.queue)
    joined = {p: ",".join(sorted(qs)) for p, qs in relays.items()}
    others = tuple(name for name in by_queue if name != home)
    failure = compiled.on_failure
    calls = []
    for name in others:
        steps = [
            t if t.depends_on else replace(t, depends_on=(compiled.id,)) for t in by_queue[name]
        ]
        part = WorkflowPart(home=home, relays=joined)
        call = wf_enqueue(
            q(name), compiled.id, steps, compiled.last, False, 0, None, now, part=part
        )
        calls.append((name, call))
    index = {name: i for i, name in enumerate((home, *others))}
    part = WorkflowPart(
        others=others,
        on_failure_queue=failure.queue if failure and failure.queue != home else "",
        total=len(compiled.steps),
        relays=joined,
        placement=",".join(str(index[t.queue]) for t in compiled.steps) if others else "",
    )
    calls.append(
        (
            home,
            wf_enqueue(
                q(home),
                compiled.id,
                by_queue[home],
                compiled.last,
                compiled.final_group,
                compiled.keep,
                failure,
                now,
                compiled.shape,
                part,
            ),
        )
    )
    return calls

"""Schedule entries that start a workflow: the YAML ``workflow:`` form, the check of the
flow when the entry is compiled, and the start of one workflow per tick.

A tick's workflow gets an id made of the entry key and the fire time
(:func:`tick_workflow_id`), the same on every daemon: ``wf_enqueue.lua`` writes a workflow
only when no workflow of that id exists, in one atomic step, so a tick sent twice (two
leaders racing, a leader taking over) starts its workflow once; the second is refused and
counted as a duplicate, as a task tick is.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..broker import CONNECTION_ERRORS
from ..broker.relays import deliver_async
from ..broker.scripts import WORKFLOW_ID_HEAD
from ..building import TaskBuilder
from ..errors import UsageError
from ..loops import one_line, wait_until
from ..ticks import TickResult
from ..workflow import Compiled, Flow, Step, chain, compile_flow, group, step, workflow_calls

if TYPE_CHECKING:
    from ..client import AsyncClient
    from ..registry import Registry, ScheduleEntry

__all__ = ["check_flow", "parse_workflow", "start_tick_workflows", "tick_workflow_id"]


def tick_workflow_id(entry_key: str, fire_time: float) -> str:
    """The id of the workflow a tick of ``entry_key`` at ``fire_time`` starts: the same on
    every daemon, so a second start of the tick is refused as an id in use."""
    digest = hashlib.sha1(entry_key.encode(), usedforsecurity=False).hexdigest()[:16]
    return f"{WORKFLOW_ID_HEAD}tick-{digest}-{round(fire_time * 1000)}"


def check_flow(
    flow: Flow,
    registry: Registry,
    builder: TaskBuilder | None = None,
    on_failure: Step | None = None,
) -> Compiled:
    """Validate every step of ``flow`` and ``on_failure`` (type, payload, options, empty
    chains and groups); raises the :class:`~bingo_core.errors.UsageError` naming the step
    by its path."""
    checker = builder or TaskBuilder(registry)
    return compile_flow(checker, flow, on_failure, workflow_id=WORKFLOW_ID_HEAD)


# -- the YAML form ---------------------------------------------------------------------------


def _snake(key: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in key)


def parse_workflow(data: Any, path: str = "steps") -> Flow:
    """A flow from the YAML ``workflow:`` value: ``{chain: [...]}``, ``{group: [...]}``,
    a list (a chain), or a step ``{type: ..., payload: {...}, <task options>}`` (options
    in snake_case or camelCase). Raises :class:`UsageError` naming the item by its path
    (``steps[1][0]``), as the flow's check does."""
    if isinstance(data, list):
        data = {"chain": data}
    if not isinstance(data, Mapping):
        raise UsageError(f"{path}: expected a mapping (type, chain or group), got {data!r}")
    kinds = [k for k in ("chain", "group") if k in data]
    if kinds:
        if len(data) != 1:
            others = ", ".join(sorted(str(k) for k in data if k != kinds[0]))
            raise UsageError(f"{path}: a {kinds[0]} item holds only its list (also: {others})")
        items = data[kinds[0]]
        if not isinstance(items, list):
            raise UsageError(f"{path}: {kinds[0]} expects a list, got {type(items).__name__}")
        subs = [parse_workflow(item, f"{path}[{i}]") for i, item in enumerate(items)]
        return chain(*subs) if kinds[0] == "chain" else group(*subs)
    fields = {_snake(str(k)): v for k, v in data.items()}
    task_type = fields.pop("type", None)
    if not isinstance(task_type, str) or not task_type.strip():
        raise UsageError(f"{path}: expected type (a non-empty string), chain or group")
    payload = fields.pop("payload", None)
    return step(task_type.strip(), {} if payload is None else payload, **fields)


# -- starting the workflows of ticks ----------------------------------------------------------


async def start_tick_workflows(
    client: AsyncClient, ticks: Sequence[tuple[ScheduleEntry, float]]
) -> list[TickResult]:
    """Start the workflow of each ``(entry, fire time)`` (an entry with a ``flow``), not
    before its fire time; one result per tick, in order: ``duplicate`` when another daemon
    started that tick's workflow."""
    latest = max((t for _, t in ticks), default=0.0)
    if latest > time.time():
        await wait_until(latest)
    out: list[TickResult] = []
    tracing = client.tracing
    for entry, fire_time in ticks:
        entry_key, flow = entry.key, entry.flow
        assert flow is not None
        workflow_id = tick_workflow_id(entry_key, fire_time)
        span = tracing.tick_workflow_span(entry_key, fire_time) if tracing else None
        try:
            carried = span[1] if span else None
            done = compile_flow(
                client.builder, flow, entry.on_failure, carried=carried, workflow_id=workflow_id
            )
            if span:
                span[0].set_attribute("messaging.destination.name", done.queue)
            # one call per queue, the same order on every daemon: the first refused (its
            # workflow id is in use there) is a duplicate tick
            calls = workflow_calls(done, client.broker.q, time.time())
            started = True
            for queue, call in calls:
                started = await client.broker.enqueue_workflow(queue, call)
                if not started:
                    break
            if started and len(calls) > 1:  # open the other queues' first steps now
                await deliver_async(client.broker, [done.queue])
        except BaseException as exc:
            if span and tracing:
                tracing.ticks_done([span], None, exc)
            if isinstance(exc, CONNECTION_ERRORS) or not isinstance(exc, Exception):
                raise
            out.append(TickResult("", error=one_line(exc)))  # a step no longer valid, ...
            continue
        out.append(TickResult(workflow_id, enqueued=started, duplicate=not started))
        if span and tracing:
            tracing.ticks_done([span], out[-1:])
    return out

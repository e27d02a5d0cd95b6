"""Schedule entries' tasks: the scheduler's ticks (:class:`Tick`, :class:`TickResult`), a
tick's task id in an Asynq queue, and one task of an entry run now (``cron run``, the
dashboard's "run now").

No I/O here: ``AsyncClient.enqueue_ticks`` and ``run_entry`` (:mod:`.client`) send what
this module prepares and hand the scripts' answers back to it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from .broker import Prepared, refusal
from .broker.scripts import ENQUEUED, EXISTS, AsynqPrepared, EnqueueCode
from .building import TaskBuilder, Template
from .errors import OptionError
from .message import TaskInfo
from .registry import TaskType


@dataclass(slots=True)
class Tick:
    """One scheduler tick to enqueue: an entry's template, its payload and fire time."""

    template: Template
    payload_json: str
    entry_key: str
    fire_time: float
    dedupe_ttl: float


@dataclass(slots=True)
class TickResult:
    """What became of one tick: ``task_id`` is the task enqueued for it, by this call
    (``enqueued``) or before, by another daemon (``duplicate``); ``error`` otherwise."""

    task_id: str
    enqueued: bool = False
    duplicate: bool = False
    error: str = ""


class Entry(Protocol):
    """What ``Client.run_entry`` uses of a schedule entry (a compiled one)."""

    @property
    def key(self) -> str: ...

    task_type: TaskType
    #: The entry's task options, as its ticks use them.
    options: dict[str, Any]
    payload_json: str
    # An entry with a ``flow`` attribute not None (``CompiledEntry.flow``) starts that
    # workflow instead (with its ``on_failure`` step, if it has one).


def entry_task(
    entry: Entry, builder: TaskBuilder, headers: Mapping[str, str] | None = None
) -> tuple[Template, Prepared | AsynqPrepared, Any, float]:
    """One task of ``entry`` now: its template, the task, its payload and the time
    (``headers``: the trace context, or None)."""
    template = Template.build(entry.task_type, entry.options)
    now = time.time()
    prepared: Prepared | AsynqPrepared
    headers = headers or None
    if builder.is_asynq(template):
        builder.check_format(template)
        prepared = template.prepare_asynq(entry.payload_json.encode(), now, headers)
    else:
        prepared = template.prepare(entry.payload_json, now, source=entry.key, headers=headers)
    return template, prepared, json.loads(entry.payload_json), now


def entry_info(
    entry: Entry,
    template: Template,
    prepared: Prepared | AsynqPrepared,
    payload: Any,
    now: float,
    headers: Mapping[str, str] | None,
) -> TaskInfo:
    """The info of ``entry``'s task just enqueued (of :func:`entry_task`)."""
    info = template.info(prepared, payload, now, entry.key)
    return replace(info, headers=dict(headers)) if headers else info


def prepare_ticks(
    ticks: Sequence[Tick], builder: TaskBuilder, now: float, headers: Mapping[int, dict[str, str]]
) -> tuple[list[Tick], list[Prepared]]:
    """The ticks into Bingo's queues and their tasks (``headers``: a tick's trace
    context by ``id(tick)``); the others are for :func:`prepare_asynq_ticks`."""
    mine = [t for t in ticks if not builder.is_asynq(t.template)]
    prepared = [
        t.template.prepare(
            t.payload_json,
            now,
            source=t.entry_key,
            dedupe=(t.entry_key, t.fire_time, t.dedupe_ttl),
            headers=headers.get(id(t)),
        )
        for t in mine
    ]
    return mine, prepared


def tick_results(
    ticks: Sequence[Tick], prepared: Sequence[Prepared], codes: Sequence[Any]
) -> list[TickResult]:
    """What became of each of :func:`prepare_ticks`'s tasks, from the enqueue's codes."""
    out = []
    for p, code in zip(prepared, codes, strict=True):
        if code == ENQUEUED:
            out.append(TickResult(p.id, enqueued=True))
        elif isinstance(code, str):
            out.append(TickResult(code, duplicate=True))
        else:
            out.append(TickResult("", error=str(refusal(code, p))))
    return out


def prepare_asynq_ticks(
    ticks: Sequence[Tick], builder: TaskBuilder, headers: Mapping[int, dict[str, str]]
) -> tuple[dict[int, TickResult], list[tuple[Tick, AsynqPrepared]]]:
    """Ticks into queues of ``asynq.queues``: the results of those refused here (by
    ``id(tick)``) and the tasks of the others. An Asynq task has no dedupe key: its id
    is made of the entry and the fire time, so a second enqueue of the tick is refused
    as a task id in use while the task exists (the leader's fencing is the first
    barrier)."""
    now = time.time()
    out: dict[int, TickResult] = {}
    tasks: list[tuple[Tick, AsynqPrepared]] = []
    for t in ticks:
        try:
            builder.check_format(t.template)
        except OptionError as exc:
            out[id(t)] = TickResult("", error=str(exc))
            continue
        task_id = asynq_tick_id(t.entry_key, t.fire_time)
        template = replace(t.template, options={**t.template.options, "task_id": task_id})
        prepared = template.prepare_asynq(t.payload_json.encode(), now, headers.get(id(t)))
        tasks.append((t, prepared))
    return out, tasks


def asynq_tick_results(
    tasks: Sequence[tuple[Tick, AsynqPrepared]],
    codes: Sequence[EnqueueCode],
    out: dict[int, TickResult],
) -> dict[int, TickResult]:
    """``out`` with what became of each of :func:`prepare_asynq_ticks`'s tasks."""
    for (t, p), code in zip(tasks, codes, strict=True):
        if code == ENQUEUED:
            out[id(t)] = TickResult(p.id, enqueued=True)
        elif code == EXISTS:
            out[id(t)] = TickResult(p.id, duplicate=True)
        else:
            out[id(t)] = TickResult("", error=str(refusal(code, p)))
    return out


def asynq_tick_id(entry_key: str, fire_time: float) -> str:
    """The id of a scheduler tick's task in an Asynq queue: the same on every daemon."""
    digest = hashlib.sha1(entry_key.encode(), usedforsecurity=False).hexdigest()[:16]
    return f"tick-{digest}-{round(fire_time * 1000)}"

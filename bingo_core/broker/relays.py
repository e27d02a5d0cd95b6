"""Delivering what a queue's scripts tell other queues (workflows and dependencies across
queues, whose keys live in other Redis Cluster slots; see ``lua/_relay.lua``).

A script that ends a step writes an entry in its queue's outbox ``P:{q}:relay`` in the
same call, and a token in ``P:{q}:relay:wake``. :func:`deliver` runs ``relay_in.lua`` on
the target queue for each entry, then deletes the entry (each field names one event,
written once). A process killed between the two leaves the entry, and the next pass
delivers it again, which changes nothing (every kind is idempotent). Whoever can
delivers: the worker daemon's :class:`~bingo_core.relay.RelayLoop` (woken by the token),
the client after writing a workflow, the CLI after a cancel or a queue delete.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from . import connection, scripts
from .base import _s
from .connection import CONNECTION_ERRORS
from .keys import QueueKeys
from .scripts import Call, EnqueueCode, Prepared


class Broker(Protocol):
    """What delivering needs of :class:`~.broker.Broker`."""

    redis: Any
    cfg: Any

    def q(self, queue: str) -> QueueKeys: ...

    def _call(self, call: Call) -> Any: ...


class AsyncBroker(Protocol):
    """What delivering needs of :class:`~.async_broker.AsyncBroker`."""

    redis: Any

    def q(self, queue: str) -> QueueKeys: ...

    async def run(self, call: Call) -> Any: ...


#: Entries read from an outbox per round (more rounds follow while it is full).
BATCH = 500


def _entries(raw: dict[Any, Any]) -> list[tuple[str, str, str, str]]:
    """(target queue, kind, ref, value) of each outbox entry; a field that does not
    parse is left out (it cannot be delivered; it is deleted with the others)."""
    out = []
    for field, value in raw.items():
        name = _s(field)
        parts = name.split("|", 2)
        if len(parts) == 3:
            out.append((parts[0], parts[1], parts[2], _s(value)))
    return out


def deliver(broker: Broker, queues: Iterable[str]) -> int:
    """Deliver the outbox entries of ``queues``, then those the deliveries wrote in the
    target queues' outboxes (a step's count that ends its workflow tells the other
    queues in turn); returns how many."""
    done = 0
    todo = list(dict.fromkeys(queues))
    try:
        for queue in todo:
            key = broker.q(queue).relay
            while raw := broker.redis.hscan(key, 0, count=BATCH)[1]:
                for target, kind, ref, value in _entries(raw):
                    broker._call(scripts.relay_in(broker.q(target), kind, ref, value))
                    done += 1
                    if target not in todo:
                        todo.append(target)
                broker.redis.hdel(key, *raw)
    except CONNECTION_ERRORS as exc:
        raise connection.unavailable(broker.cfg, exc) from None
    return done


async def deliver_async(broker: AsyncBroker, queues: Iterable[str]) -> int:
    """:func:`deliver` on the asyncio broker."""
    done = 0
    todo = list(dict.fromkeys(queues))
    for queue in todo:
        key = broker.q(queue).relay
        while raw := (await broker.redis.hscan(key, 0, count=BATCH))[1]:
            for target, kind, ref, value in _entries(raw):
                await broker.run(scripts.relay_in(broker.q(target), kind, ref, value))
                done += 1
                if target not in todo:
                    todo.append(target)
            await broker.redis.hdel(key, *raw)
    return done


def deleting(broker: Broker, queue: str) -> list[Call]:
    """Before ``queue`` is deleted: deliver its outbox, and return the calls that tell the
    other queues its workflows lose their steps there (run them once it is deleted): a
    workflow of another home queue fails (its step here "was deleted"); one whose record
    is here ends its parts in the other queues (their steps not started are archived)."""
    deliver(broker, [queue])
    q = broker.q(queue)
    calls: list[Call] = []
    try:
        for wf_raw, home_raw in broker.redis.hgetall(q.workflows_away).items():
            wf, home = _s(wf_raw), _s(home_raw)
            first = broker.redis.lindex(q.workflow_steps(wf), 0)
            if first is not None:
                ref = f"{wf}|{_s(first)}"
                calls.append(scripts.relay_in(broker.q(home), "fail", ref, "deleted"))
        for wf_raw in broker.redis.zrange(q.workflows, 0, -1):
            wf = _s(wf_raw)
            state, others, keep = broker.redis.hmget(q.workflow(wf), "state", "queues", "keep")
            if state != b"running" or not others:
                continue
            why = f"failed|{_s(keep or b'86400')}|queue {queue} was deleted"
            for other in _s(others).split(","):
                calls.append(scripts.relay_in(broker.q(other), "end", wf, why))
    except CONNECTION_ERRORS as exc:
        raise connection.unavailable(broker.cfg, exc) from None
    return calls


def _links(
    broker: Broker | AsyncBroker, tasks: Sequence[Prepared], codes: list[EnqueueCode]
) -> list[tuple[int, str, Call]]:
    """(task index, dependency id, ``dep_link`` call) for each dependency in another queue
    of each task just enqueued."""
    out = []
    for i, (t, code) in enumerate(zip(tasks, codes, strict=True)):
        if t.remote_deps and code == scripts.ENQUEUED:
            for dep, queue in t.remote_deps:
                out.append((i, dep, scripts.dep_link(broker.q(queue), dep, t.queue, t.id)))
    return out


def _missing(dep: str, call: Call) -> scripts.MissingDependency:
    code = scripts.MissingDependency(dep)
    code.queue = call[1][0].split("{", 1)[1].rsplit("}", 1)[0]  # P:{q}:t: -> q
    return code


def link(broker: Broker, tasks: Sequence[Prepared], codes: list[EnqueueCode]) -> None:
    """After an enqueue: tell each dependency in another queue that the task waits for
    it, and deliver the answers of those that had ended (a missing one makes the task's
    code :class:`~.scripts.MissingDependency`; the task is archived, naming it)."""
    links = _links(broker, tasks, codes)
    try:
        for i, dep, call in links:
            if not int(broker._call(call)):
                codes[i] = _missing(dep, call)
    except CONNECTION_ERRORS as exc:
        raise connection.unavailable(broker.cfg, exc) from None
    deliver(broker, {q for t in tasks for _, q in t.remote_deps})


async def link_async(
    broker: AsyncBroker, tasks: Sequence[Prepared], codes: list[EnqueueCode]
) -> None:
    """:func:`link` on the asyncio broker."""
    for i, dep, call in _links(broker, tasks, codes):
        if not int(await broker.run(call)):
            codes[i] = _missing(dep, call)
    await deliver_async(broker, {q for t in tasks for _, q in t.remote_deps})

"""Where the worker's tasks come from and go back to, per queue: Bingo's own layout
(:class:`BingoPort`) or Asynq's (:class:`AsynqPort`, the queues of ``asynq.queues``).

The worker fetches, decodes, runs and settles every task the same way; a port turns
that into its layout's calls: the message decoded into a :class:`TaskMessage`, a retry,
an archive, an ack, the shutdown requeue.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pydantic_core import from_json

from ..asynq.servers import RunningTask
from ..asynq.wire import AsynqMessage
from ..errors import MalformedTask
from ..message import TaskMessage
from ..records import FetchResult, Leased
from .acks import Acks

if TYPE_CHECKING:
    from ..broker import AsyncBroker
    from ..broker.asynq_ops import AsynqOps
    from ..broker.scripts import QueueLimits
    from ..loops import Outage
    from ..registry import Registry, TaskType

log = logging.getLogger("bingo.worker")
#: Asynq's timeout when a message has neither a timeout nor a deadline (s).
ASYNQ_DEFAULT_TIMEOUT = 1800.0
#: A workflow step with no retention still sends its result with the ack: ``ack.lua``
#: keeps it until the workflow ends, then this long (s).
WORKFLOW_KEEP = 0.001
#: How many workflow parents' results a worker keeps in memory, at most.
PARENTS_KEPT = 256


class Port(Protocol):
    """One layout's calls, as the worker makes them."""

    async def fetch(self, queue: str, n: int, until: float) -> FetchResult: ...

    async def late_start(self, queue: str, task_id: str) -> float: ...

    def decode(self, task_id: str, raw: bytes) -> TaskMessage: ...

    def task_key(self, queue: str, task_id: str) -> str: ...

    async def retry(self, queue: str, task_id: str, at: float, error: str) -> bool: ...

    async def archive(self, queue: str, task_id: str, reason: str) -> bool: ...

    def ack(self, queue: str, msg: TaskMessage, result_json: str) -> None: ...

    async def results(self, queue: str, ids: Sequence[str]) -> list[Any]: ...

    async def requeue(self, queue: str, ids: Sequence[str]) -> int: ...

    def forget(self, task_id: str) -> None: ...

    async def stop(self) -> None: ...


class BingoPort:
    """Bingo's own layout: the scripts of :mod:`bingo_core.broker.scripts`."""

    def __init__(
        self,
        broker: AsyncBroker,
        acks: Acks,
        worker_id: str,
        max_size: int,
        max_age: float,
        limits: Mapping[str, QueueLimits] | None = None,
    ) -> None:
        self.broker = broker
        self.acks = acks
        self.worker_id = worker_id
        self.max_size = max_size
        self.max_age = max_age
        #: Workflow parents' results read lately, (queue, id) -> (read, index in it): the
        #: members of a group share their parents, and a completed task's result never
        #: changes. Concurrent steps share one read (the future).
        self._parents: dict[tuple[str, str], tuple[asyncio.Future[list[Any]], int]] = {}
        #: ``worker.queueLimits`` as ``fetch.lua`` takes them.
        self.limits = limits or {}

    async def fetch(self, queue: str, n: int, until: float) -> FetchResult:
        return await self.broker.fetch(queue, n, until, self.worker_id, self.limits.get(queue))

    async def late_start(self, queue: str, task_id: str) -> float:
        return await self.broker.late_start(queue, task_id, self.limits.get(queue))

    def decode(self, task_id: str, raw: bytes) -> TaskMessage:
        return TaskMessage.decode(raw)

    def task_key(self, queue: str, task_id: str) -> str:
        return self.broker.q(queue).task(task_id)

    async def retry(self, queue: str, task_id: str, at: float, error: str) -> bool:
        return await self.broker.retry(queue, task_id, self.worker_id, at, error)

    async def archive(self, queue: str, task_id: str, reason: str) -> bool:
        return await self.broker.archive(
            queue, task_id, self.worker_id, reason, self.max_size, self.max_age
        )

    def ack(self, queue: str, msg: TaskMessage, result_json: str) -> None:
        retention = msg.retention
        if msg.workflow is not None and not retention:
            retention = WORKFLOW_KEEP  # the result goes on to the steps after it
        self.acks.add(queue, (msg.id, retention, msg.unique_key or "", result_json))

    async def results(self, queue: str, ids: Sequence[str]) -> list[Any]:
        """The kept results of tasks of ``queue`` (a workflow step's parents), in order;
        those read lately (:data:`PARENTS_KEPT`) are not read again."""
        cache = self._parents
        need = [i for i in dict.fromkeys(ids) if (queue, i) not in cache]
        if need:
            read: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
            for n, task_id in enumerate(need):
                cache[(queue, task_id)] = (read, n)
        where = [cache[(queue, task_id)] for task_id in ids]
        while len(cache) > PARENTS_KEPT:
            del cache[next(iter(cache))]
        if need:
            try:
                read.set_result(await self.broker.results(queue, need))
            except BaseException as exc:
                for task_id in need:
                    cache.pop((queue, task_id), None)
                read.set_exception(exc)
                read.exception()  # retrieved: the steps waiting on it raise it themselves
                raise
        return [(await future)[n] for future, n in where]

    async def requeue(self, queue: str, ids: Sequence[str]) -> int:
        return await self.broker.requeue(queue, ids, self.worker_id)

    def forget(self, task_id: str) -> None:
        """Nothing is held per task here."""

    async def stop(self) -> None:
        await self.acks.stop()


class AsynqPort:
    """Asynq's layout: the message is Asynq's protobuf, rewritten as Go rewrites it on a
    retry (``retried``, ``error_msg``, ``last_failed_at``), an archive and a completion
    (``completed_at``); the task type's own options (``idempotent``, ``isolation``,
    ``retry_backoff``) come from the registry, as Asynq's message has no field for them."""

    def __init__(
        self, broker: AsyncBroker, registry: Registry, worker_id: str, outage: Outage
    ) -> None:
        self.ops: AsynqOps = broker.asynq_ops
        self.registry = registry
        self.acks = Acks(broker, worker_id, outage, write=self.ops.ack)
        #: The message of each task held, for its rewrite.
        self._held: dict[str, AsynqMessage] = {}
        #: What :meth:`view` needs of each task type, looked up once.
        self._types: dict[str, _TypeView] = {}

    async def late_start(self, queue: str, task_id: str) -> float:
        return 0.0  # Asynq's layout has no rate limits

    async def fetch(self, queue: str, n: int, until: float) -> FetchResult:
        got = await self.ops.fetch(queue, n)
        leased = []
        for task in got.leased:
            retried = 0
            try:
                msg = self._held[task.id] = AsynqMessage.decode(task.raw)
                retried = msg.retried
            except MalformedTask:
                self._held.pop(task.id, None)
            leased.append(Leased(task.id, task.raw, retried))
        return FetchResult(leased, got.unusable, got.next_due, got.paused)

    def decode(self, task_id: str, raw: bytes) -> TaskMessage:
        msg = self._held.get(task_id)
        if msg is None:
            msg = AsynqMessage.decode(raw)  # raises MalformedTask with the reason
            self._held[task_id] = msg
        return self.view(msg)

    def task_key(self, queue: str, task_id: str) -> str:
        return self.ops.q(queue).task(task_id)

    def view(self, msg: AsynqMessage) -> TaskMessage:
        """The message as the worker runs it."""
        tt = self.registry.tasks.get(msg.type)
        known = self._types.get(msg.type)
        if known is None or known.task_type is not tt:
            known = self._types[msg.type] = _TypeView.of(tt)
        payload: Any = msg.payload
        if known.json:
            payload = _json(payload)
        elif payload == b"" and not known.raw:
            payload = None
        timeout = float(msg.timeout)
        if not timeout and not msg.deadline:
            timeout = ASYNQ_DEFAULT_TIMEOUT
        return TaskMessage(
            msg.id,
            msg.type,
            msg.queue,
            payload,
            msg.retry,
            timeout,
            float(msg.deadline) if msg.deadline else None,
            float(msg.retention),
            None,  # retry_backoff: the type's (the worker asks the registry)
            known.idempotent,
            known.isolation,
            msg.unique_key or None,
            None,  # source
            0.0,  # enqueued_at: an Asynq message keeps none
            msg.headers or None,
        )

    async def retry(self, queue: str, task_id: str, at: float, error: str) -> bool:
        msg = self._held.pop(task_id, None)
        now = int(time.time())
        new = b""
        if msg is not None:
            new = msg.with_(retried=msg.retried + 1, error_msg=error, last_failed_at=now).encode()
        return await self.ops.fail(queue, task_id, new, retry_at=at)

    async def archive(self, queue: str, task_id: str, reason: str) -> bool:
        msg = self._held.pop(task_id, None)
        new = b""
        if msg is not None:
            new = msg.with_(error_msg=reason, last_failed_at=int(time.time())).encode()
        return await self.ops.fail(queue, task_id, new, retry_at=None)

    def ack(self, queue: str, msg: TaskMessage, result_json: str) -> None:
        held = self._held.pop(msg.id, None)
        retention = int(msg.retention)
        new = b""
        if retention and held is not None:
            new = held.with_(completed_at=int(time.time())).encode()
        elif retention:  # cannot happen: a task runs only once its message decoded
            retention = 0
        self.acks.add(queue, (msg.id, retention, new, result_json.encode(), msg.unique_key or ""))

    async def requeue(self, queue: str, ids: Sequence[str]) -> int:
        for task_id in ids:
            self._held.pop(task_id, None)
        return await self.ops.requeue(queue, ids)

    async def results(self, queue: str, ids: Sequence[str]) -> list[Any]:
        """No workflow runs in Asynq's layout."""
        return [None for _ in ids]

    def running(self, active: Mapping[str, Any]) -> list[RunningTask]:
        """The started tasks of ``active`` (id -> the worker's record, with ``queue``
        and ``ctx``) held here, as Asynq's ``WorkerInfo`` shows them."""
        out = []
        for task_id, r in list(active.items()):
            msg = self._held.get(task_id)
            started = r.ctx.started_at
            if msg is None or started is None:
                continue
            timeout = msg.timeout or (0 if msg.deadline else ASYNQ_DEFAULT_TIMEOUT)
            ends = [t for t in (started + timeout if timeout else 0, msg.deadline) if t]
            out.append(RunningTask(task_id, msg.type, msg.payload, r.queue, started, min(ends)))
        return out

    def forget(self, task_id: str) -> None:
        """Drop a task's message (it ended without an outcome written here)."""
        self._held.pop(task_id, None)

    async def stop(self) -> None:
        await self.acks.stop()


@dataclass(frozen=True, slots=True)
class _TypeView:
    """What turning an Asynq message into a :class:`TaskMessage` needs of its type."""

    task_type: TaskType | None
    #: The payload is JSON to decode (a type without a model); else bytes for the model
    #: to validate, or a raw type's own.
    json: bool
    raw: bool
    idempotent: bool
    isolation: str

    @classmethod
    def of(cls, tt: TaskType | None) -> _TypeView:
        if tt is None:  # unknown here: the worker retries it, as Asynq does
            return cls(None, True, False, False, "thread")
        json_payload = tt.payload_model is None and not tt.raw
        return cls(
            tt, json_payload, tt.raw, bool(tt.option("idempotent")), str(tt.option("isolation"))
        )


def _json(payload: bytes) -> Any:
    """An Asynq payload as JSON; bytes that are not JSON stay bytes (the type's
    validation refuses them, and the task is archived with that error)."""
    if not payload:
        return None
    try:
        return from_json(payload)
    except ValueError:
        return payload

"""Enqueue tasks: validate the payload against its model, encode, one script call.

Nothing is written to Redis unless every task of the call is valid. :mod:`.building`
builds the tasks, :mod:`.ticks` a schedule entry's, :mod:`.workflow_enqueue` a
workflow's calls; :class:`Client` and :class:`AsyncClient` send them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import waiting, workflow_enqueue
from .broker import Prepared, refusal
from .broker.relays import deliver, deliver_async
from .broker.scripts import ENQUEUED, AsynqPrepared, EnqueueCode
from .broker.waits import AsyncWaits, Waits
from .building import BulkItem, TaskBuilder, with_deps_state
from .errors import BulkEnqueueError
from .loops import wait_until
from .message import TaskInfo
from .parts import Parts
from .records.servers import unserved
from .registry import Registry
from .ticks import (
    Entry,
    Tick,
    TickResult,
    asynq_tick_results,
    entry_info,
    entry_task,
    prepare_asynq_ticks,
    prepare_ticks,
    tick_results,
)
from .workflow import Flow, Step, WorkflowInfo

if TYPE_CHECKING:
    from .broker import AsyncBroker, Broker
    from .config import Settings

log = logging.getLogger("bingo.client")


def _builder(app: Parts) -> TaskBuilder:
    """A client's task builder, on the app's registry, settings and zone."""
    settings = app.settings
    return TaskBuilder(
        app.registry, settings.client.max_payload_size, app.timezone, settings.asynq.queues
    )


class Client:
    """Enqueue tasks from any Python program.

    ``Client()`` reads the config the CLI would (``$BINGO_CONFIG`` or
    ``config/bingo-scheduler.yaml``) and the installed plugins; pass ``settings``,
    ``redis_url`` or ``registry`` to choose them, or ``app`` to share one.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        redis_url: str | None = None,
        registry: Registry | None = None,
        broker: Broker | None = None,
        app: Parts | None = None,
    ) -> None:
        self.app = app if app is not None else Parts.for_client(settings, redis_url, registry)
        self._own_app = app is None
        self.settings = self.app.settings
        self.registry = self.app.registry
        self.broker = broker if broker is not None else self.app.broker
        self.builder = _builder(self.app)
        #: ``tracing.enabled``: the producer spans (None when off).
        self.tracing = self.app.tracing
        #: Warnings given so far (a queue no live worker consumes), each logged once.
        self.warnings: list[str] = []
        self._looked_at: set[str] = set()
        self._waits: Waits | None = None

    def enqueue(self, task_type: str, payload: Any = None, **options: Any) -> TaskInfo:
        """Validate and enqueue one task; return its info.

        Raises :class:`PayloadError`, :class:`UnknownTaskType`, :class:`OptionError` before
        anything is written, :class:`DuplicateTaskError` / :class:`UniqueTaskError` when
        Redis refuses it, :class:`ServiceUnavailable` when Redis does not answer. The
        first task for a queue that no live worker consumes logs one warning. With
        ``tracing.enabled`` it runs in a producer span whose context the task carries.
        """
        if self.tracing is not None:
            return self.tracing.send(self._enqueue, task_type, payload, options)
        return self._enqueue(task_type, payload, options)

    def _enqueue(
        self,
        task_type: str,
        payload: Any,
        options: Mapping[str, Any],
        headers: Mapping[str, str] | None = None,
    ) -> TaskInfo:
        prepared, info = self.builder.build(task_type, payload, options, headers)
        if isinstance(prepared, AsynqPrepared):  # Go servers may serve it: no warning
            code = self.broker.enqueue_asynq([prepared])[0]
            if code != ENQUEUED:
                raise refusal(code, prepared)
            return info
        code = self.broker.enqueue([prepared])[0]
        if code != ENQUEUED:
            raise refusal(code, prepared)
        if prepared.queue not in self._looked_at:
            self._look_at(prepared.queue)
        return with_deps_state(info, prepared, code) if prepared.depends_on else info

    def run_entry(self, entry: Entry) -> TaskInfo | WorkflowInfo:
        """Enqueue a schedule entry's task once, now, with the entry's payload and
        options (as its ticks do); it is no tick, so it runs whatever the schedule does.
        The task's ``source`` is the entry's key. Raises as :meth:`enqueue` does. An
        entry that starts a workflow starts it (a new workflow id): a :class:`WorkflowInfo`."""
        flow = getattr(entry, "flow", None)
        if flow is not None:
            return self.enqueue_workflow(flow, getattr(entry, "on_failure", None))
        if self.tracing is not None:
            return self.tracing.send_entry(
                lambda headers: self._run_entry(entry, headers), entry.task_type.name
            )
        return self._run_entry(entry)

    def _run_entry(self, entry: Entry, headers: Mapping[str, str] | None = None) -> TaskInfo:
        template, prepared, payload, now = entry_task(entry, self.builder, headers)
        if isinstance(prepared, AsynqPrepared):
            code = self.broker.enqueue_asynq([prepared])[0]
        else:
            code = self.broker.enqueue([prepared])[0]
        if code != ENQUEUED:
            raise refusal(code, prepared)
        if isinstance(prepared, Prepared) and prepared.queue not in self._looked_at:
            self._look_at(prepared.queue)
        return entry_info(entry, template, prepared, payload, now, headers)

    def _look_at(self, queue: str) -> None:
        self._looked_at.add(queue)
        if queue in unserved(self.broker.server_reads.servers(), [queue]):
            text = (
                f"no live worker consumes queue {queue!r}: the task waits until a worker "
                f"lists it in worker.queues"
            )
            self.warnings.append(text)
            log.warning("%s", text)

    def enqueue_many(self, items: Iterable[BulkItem]) -> list[str]:
        """Validate every item, then enqueue them all in one streamed round trip.

        Returns the task ids in order. Nothing is written when an item fails validation.
        When Redis refuses some items (duplicate id, unique lock held) the others are
        enqueued and :class:`BulkEnqueueError` lists the refused ones by index. With
        ``tracing.enabled`` the call is one producer span whose context every task carries.
        """
        if self.tracing is not None:
            return self.tracing.send_many(self._enqueue_many, items)
        return self._enqueue_many(items)

    def _enqueue_many(
        self, items: Iterable[BulkItem], headers: Mapping[str, str] | None = None
    ) -> list[str]:
        ids: list[str] = []
        prepared: list[Prepared] = []
        asynq: list[tuple[int, AsynqPrepared]] = []

        def chunks() -> Iterator[list[Prepared]]:
            for chunk in self.builder.build_bulk(items, asynq, headers):
                prepared.extend(chunk)
                yield chunk

        codes = self.broker.enqueue_stream(chunks())
        done: list[tuple[Prepared | AsynqPrepared, EnqueueCode]] = list(
            zip(prepared, codes, strict=True)
        )
        if asynq:  # put each Asynq task back at its place among the items
            tasks = [t for _, t in asynq]
            asynq_codes = self.broker.enqueue_asynq(tasks)
            for (index, task), code in zip(asynq, asynq_codes, strict=True):
                done.insert(index, (task, code))
        refused: dict[int, str] = {}
        for i, (p, code) in enumerate(done):
            ids.append(p.id)
            if code != ENQUEUED:
                refused[i] = str(refusal(code, p))
        if refused:
            raise BulkEnqueueError(ids, refused)
        return ids

    def enqueue_workflow(
        self,
        flow: Flow,
        on_failure: Step | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> WorkflowInfo:
        """Validate a whole flow of ``bingo.step``/``chain``/``group`` items, then write it
        (one script call per queue of its steps, the first step's queue last);
        ``on_failure`` (a step) is enqueued once per failure. ``wait(info.id)`` gives the
        last step's result (a final group: the list of its members' results). A bad step
        raises one error naming it by its path (``steps[1][3]``) and nothing is written.
        ``headers`` go to every step (and ``on_failure``), under a step's own ``headers``
        option; with ``tracing.enabled`` the call is one producer span whose context
        every step carries."""
        if self.tracing is not None:
            return self.tracing.send_workflow(
                lambda carried: self._enqueue_workflow(flow, on_failure, headers, carried)
            )
        return self._enqueue_workflow(flow, on_failure, headers, None)

    def _enqueue_workflow(
        self,
        flow: Flow,
        on_failure: Step | None,
        headers: Mapping[str, str] | None,
        carried: Mapping[str, str] | None,
    ) -> WorkflowInfo:
        compiled, calls = workflow_enqueue.plan(
            self.builder, self.broker.q, flow, on_failure, headers, carried
        )
        for queue, call in calls:
            if not self.broker.enqueue_workflow(queue, call):
                raise workflow_enqueue.refused(compiled)
        if len(calls) > 1:  # open the other queues' first steps now (the relay would too)
            deliver(self.broker, [compiled.queue])
        return workflow_enqueue.info_of(compiled)

    def info(self, task_id: str, *, queue: str | None = None) -> TaskInfo:
        """The task as stored now: state, payload, last error, kept result and
        ``progress`` (what its handler last reported with ``ctx.progress``, or None).
        ``queue`` as for :meth:`wait`; :class:`TaskNotFound` when no queue knows it."""
        return waiting.find_task(self.broker, task_id, queue)

    def wait(self, task_id: str, timeout: float | None = None, *, queue: str | None = None) -> Any:
        """Block until the task ends and return its result (None when its type keeps no
        result: see ``retention``); it blocks on Redis, it does not poll.

        ``queue``: the task's queue (default: the first queue that knows the id). Raises
        :class:`TaskFailed` when the task is archived (its last error),
        :class:`WaitTimeout` (a ``TimeoutError``) when ``timeout`` seconds pass first,
        :class:`TaskNotFound` for an id no queue knows: a task whose type keeps no result
        is forgotten when it completes, so wait for it before it ends.
        """
        if self._waits is None:
            self._waits = Waits(self.broker)
        queues = [queue] if queue else self.broker.reader.queues()
        return waiting.wait(self._waits, queues, task_id, timeout)

    def close(self) -> None:
        """Close the connections (of the app this client made itself)."""
        if self._waits is not None:
            self._waits.close()
            self._waits = None
        if self._own_app:
            self.app.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient:
    """The asyncio twin of :class:`Client` (used by the scheduler and async programs)."""

    def __init__(
        self,
        settings: Settings | None = None,
        registry: Registry | None = None,
        broker: AsyncBroker | None = None,
        *,
        app: Parts | None = None,
    ) -> None:
        self.app = app if app is not None else Parts.for_client(settings, None, registry)
        self.settings = self.app.settings
        self.registry = self.app.registry
        self.broker = broker if broker is not None else self.app.async_broker()
        self.builder = _builder(self.app)
        self._waits: AsyncWaits | None = None
        #: ``tracing.enabled``: the producer and tick spans (None when off).
        self.tracing = self.app.tracing

    async def enqueue(self, task_type: str, payload: Any = None, **options: Any) -> TaskInfo:
        """Validate and enqueue one task; return its info (see :meth:`Client.enqueue`)."""
        if self.tracing is not None:
            return await self.tracing.send_async(self._enqueue, task_type, payload, options)
        return await self._enqueue(task_type, payload, options)

    async def _enqueue(
        self,
        task_type: str,
        payload: Any,
        options: Mapping[str, Any],
        headers: Mapping[str, str] | None = None,
    ) -> TaskInfo:
        prepared, info = self.builder.build(task_type, payload, options, headers)
        if isinstance(prepared, AsynqPrepared):
            code = (await self.broker.enqueue_asynq([prepared]))[0]
        else:
            code = (await self.broker.enqueue([prepared]))[0]
        if code != ENQUEUED:
            raise refusal(code, prepared)
        return with_deps_state(info, prepared, code)

    async def run_entry(self, entry: Entry) -> TaskInfo | WorkflowInfo:
        """Enqueue a schedule entry's task (or start its workflow) once, now (see
        :meth:`Client.run_entry`)."""
        flow = getattr(entry, "flow", None)
        if flow is not None:
            return await self.enqueue_workflow(flow, getattr(entry, "on_failure", None))
        if self.tracing is not None:
            return await self.tracing.send_entry_async(
                lambda headers: self._run_entry(entry, headers), entry.task_type.name
            )
        return await self._run_entry(entry)

    async def _run_entry(self, entry: Entry, headers: Mapping[str, str] | None = None) -> TaskInfo:
        template, prepared, payload, now = entry_task(entry, self.builder, headers)
        if isinstance(prepared, AsynqPrepared):
            code = (await self.broker.enqueue_asynq([prepared]))[0]
        else:
            code = (await self.broker.enqueue([prepared]))[0]
        if code != ENQUEUED:
            raise refusal(code, prepared)
        return entry_info(entry, template, prepared, payload, now, headers)

    async def enqueue_workflow(
        self,
        flow: Flow,
        on_failure: Step | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> WorkflowInfo:
        """Validate and write a whole workflow (see :meth:`Client.enqueue_workflow`)."""
        if self.tracing is not None:
            return await self.tracing.send_workflow_async(
                lambda carried: self._enqueue_workflow(flow, on_failure, headers, carried)
            )
        return await self._enqueue_workflow(flow, on_failure, headers, None)

    async def _enqueue_workflow(
        self,
        flow: Flow,
        on_failure: Step | None,
        headers: Mapping[str, str] | None,
        carried: Mapping[str, str] | None,
    ) -> WorkflowInfo:
        compiled, calls = workflow_enqueue.plan(
            self.builder, self.broker.q, flow, on_failure, headers, carried
        )
        for queue, call in calls:
            if not await self.broker.enqueue_workflow(queue, call):
                raise workflow_enqueue.refused(compiled)
        if len(calls) > 1:  # open the other queues' first steps now (the relay would too)
            await deliver_async(self.broker, [compiled.queue])
        return workflow_enqueue.info_of(compiled)

    async def wait(
        self, task_id: str, timeout: float | None = None, *, queue: str | None = None
    ) -> Any:
        """Wait for a task to end and return its result (see :meth:`Client.wait`)."""
        if self._waits is None:
            self._waits = AsyncWaits(self.broker)
        queues = [queue] if queue else await self._waits.queues()
        return await waiting.wait_async(self._waits, queues, task_id, timeout)

    async def info(self, task_id: str, *, queue: str | None = None) -> TaskInfo:
        """The task as stored now, with its ``progress`` (see :meth:`Client.info`); read
        in a thread on the app's synchronous connections."""
        return await asyncio.to_thread(waiting.find_task, self.app.broker, task_id, queue)

    async def aclose(self) -> None:
        """Close the blocking connection :meth:`wait` opened (the broker stays open)."""
        if self._waits is not None:
            await self._waits.close()
            self._waits = None

    async def enqueue_ticks(
        self, ticks: Sequence[Tick], *, not_before: float | None = None
    ) -> list[TickResult]:
        """Enqueue scheduler ticks in one round trip, each at most once: a tick whose
        ``(entry, fire time)`` was enqueued before (by any daemon) is refused and its
        task id returned instead. One result per tick, in order.

        ``not_before``: nothing is sent before this instant (the ticks' fire time). The
        tasks are built first, then the call waits for it: a batch the scheduler builds a
        few milliseconds ahead of its tick goes out on the tick.
        """
        now = time.time() if not_before is None else max(time.time(), not_before)
        tracing = self.tracing
        if tracing is None:
            return await self._ticks(ticks, now, not_before, None)
        spans = tracing.tick_spans(ticks)
        try:
            results = await self._ticks(ticks, now, not_before, spans)
        except BaseException as exc:
            tracing.ticks_done(spans, None, exc)
            raise
        tracing.ticks_done(spans, results)
        return results

    async def _ticks(
        self,
        ticks: Sequence[Tick],
        now: float,
        not_before: float | None,
        spans: Sequence[tuple[Any, dict[str, str]]] | None,
    ) -> list[TickResult]:
        """:meth:`enqueue_ticks`; ``spans``: each tick's span and the headers that carry
        its context (``tracing.enabled``), or None."""
        headers = {id(t): h for t, (_, h) in zip(ticks, spans, strict=True)} if spans else {}
        mine, prepared = prepare_ticks(ticks, self.builder, now, headers)
        if not_before is not None:
            await wait_until(not_before)
        codes = await self.broker.enqueue(prepared) if prepared else []
        results = dict(zip(map(id, mine), tick_results(mine, prepared, codes), strict=True))
        if len(mine) < len(ticks):
            rest = [t for t in ticks if id(t) not in results]
            results.update(await self._asynq_ticks(rest, headers))
        return [results[id(t)] for t in ticks]

    async def _asynq_ticks(
        self, ticks: Sequence[Tick], headers: Mapping[int, dict[str, str]]
    ) -> dict[int, TickResult]:
        """Ticks into queues of ``asynq.queues`` (see :func:`.ticks.prepare_asynq_ticks`)."""
        out, tasks = prepare_asynq_ticks(ticks, self.builder, headers)
        codes = await self.broker.enqueue_asynq([p for _, p in tasks]) if tasks else []
        return asynq_tick_results(tasks, codes, out)

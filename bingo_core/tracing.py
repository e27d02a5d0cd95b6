"""OpenTelemetry spans (``tracing.enabled``, the ``otel`` extra).

- An enqueue (``Client``, ``AsyncClient``, ``ctx.enqueue``) runs in a ``PRODUCER`` span
  ``enqueue <queue>``; the W3C trace context of that span (``traceparent``,
  ``tracestate``, through the global propagator) is put in the task's headers.
- A scheduler tick is a root ``PRODUCER`` span ``tick <entry>``, its context put in the
  headers of the tick's task (of every step of the workflow a tick starts).
- Each attempt runs in a ``CONSUMER`` span ``process <queue>`` whose parent is the context
  found in the task's headers: a built-in middleware, outside those of the plugins. What
  the handler raises is recorded on it and sets its status to error.

Attributes follow the messaging semantic conventions (``messaging.system`` = ``bingo``,
``messaging.destination.name``, ``messaging.message.id``, ``messaging.operation.name``
and ``.type``), with ``messaging.bingo.task_type`` and ``messaging.bingo.retry_count``.
The spans go to the tracer provider the process has set (``opentelemetry-sdk``, or
``opentelemetry-instrument``). Only :attr:`~bingo_core.parts.Parts.tracing` imports this
module, and only when tracing is on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from .registry import CallNext, Middleware

if TYPE_CHECKING:
    from .context import TaskContext
    from .message import TaskInfo
    from .workflow import WorkflowInfo

SYSTEM = "bingo"
#: The plugin name the consumer middleware is listed under.
PLUGIN = "bingo.tracing"

#: ``enqueue(task_type, payload, options, headers)``: the client's, ``headers`` added to
#: the task's own.
Enqueue = Callable[[str, Any, Mapping[str, Any], dict[str, str]], "TaskInfo"]
AsyncEnqueue = Callable[[str, Any, Mapping[str, Any], dict[str, str]], Awaitable["TaskInfo"]]


class Tracing:
    """The spans of one process (see the module's note)."""

    def __init__(self, tracer_provider: trace.TracerProvider | None = None) -> None:
        self.tracer = trace.get_tracer("bingo_core", tracer_provider=tracer_provider)
        #: The consumer span, as the worker's outermost middleware.
        self.middleware = Middleware("tracing", self.consume, PLUGIN)

    # -- producer -------------------------------------------------------------------------
    def _producer(self, task_type: str) -> Any:
        attributes: dict[str, Any] = {
            "messaging.system": SYSTEM,
            "messaging.operation.name": "enqueue",
            "messaging.operation.type": "send",
        }
        if task_type:
            attributes["messaging.bingo.task_type"] = task_type
        return self.tracer.start_as_current_span(
            "enqueue", kind=SpanKind.PRODUCER, attributes=attributes
        )

    @staticmethod
    def _sent(span: Span, info: TaskInfo | WorkflowInfo) -> None:
        span.update_name(f"enqueue {info.queue}")
        span.set_attribute("messaging.destination.name", info.queue)
        span.set_attribute("messaging.message.id", info.id)

    def send(
        self, enqueue: Enqueue, task_type: str, payload: Any, options: Mapping[str, Any]
    ) -> TaskInfo:
        """``enqueue(task_type, payload, options)`` in a producer span whose context the
        task's headers carry."""
        with self._producer(task_type) as span:
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            info = enqueue(task_type, payload, options, carrier)
            self._sent(span, info)
            return info

    async def send_async(
        self, enqueue: AsyncEnqueue, task_type: str, payload: Any, options: Mapping[str, Any]
    ) -> TaskInfo:
        """:meth:`send` for :class:`~bingo_core.client.AsyncClient`."""
        with self._producer(task_type) as span:
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            info = await enqueue(task_type, payload, options, carrier)
            self._sent(span, info)
            return info

    def send_entry(self, run: Callable[[dict[str, str]], TaskInfo], task_type: str) -> TaskInfo:
        """``run(headers)``: a schedule entry's task enqueued now (``cron run``, the
        dashboard's "run now"), in a producer span whose context it carries."""
        with self._producer(task_type) as span:
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            info = run(carrier)
            self._sent(span, info)
            return info

    async def send_entry_async(
        self, run: Callable[[dict[str, str]], Awaitable[TaskInfo]], task_type: str
    ) -> TaskInfo:
        """:meth:`send_entry` for :class:`~bingo_core.client.AsyncClient`."""
        with self._producer(task_type) as span:
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            info = await run(carrier)
            self._sent(span, info)
            return info

    def send_workflow(self, run: Callable[[dict[str, str]], WorkflowInfo]) -> WorkflowInfo:
        """``run(headers)``: a workflow enqueued (``Client.enqueue_workflow``) in one
        producer span whose context every step carries."""
        with self._producer("") as span:
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            info = run(carrier)
            self._sent(span, info)
            return info

    async def send_workflow_async(
        self, run: Callable[[dict[str, str]], Awaitable[WorkflowInfo]]
    ) -> WorkflowInfo:
        """:meth:`send_workflow` for :class:`~bingo_core.client.AsyncClient`."""
        with self._producer("") as span:
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            info = await run(carrier)
            self._sent(span, info)
            return info

    def send_many(
        self, enqueue_many: Callable[[Any, dict[str, str]], list[str]], items: Any
    ) -> list[str]:
        """``enqueue_many(items, headers)`` in one producer span whose context every
        task carries."""
        with self._producer("") as span:
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            ids = enqueue_many(items, carrier)
            span.set_attribute("messaging.batch.message_count", len(ids))
            return ids

    # -- scheduler ticks ------------------------------------------------------------------
    def tick_spans(self, ticks: Sequence[Any]) -> list[tuple[Span, dict[str, str]]]:
        """A root span per tick (:class:`~bingo_core.ticks.Tick`), started, and the
        headers that carry its context."""
        out = []
        root = otel_context.Context()
        for t in ticks:
            queue = t.template.message.queue
            span = self.tracer.start_span(
                f"tick {t.entry_key}",
                context=root,
                kind=SpanKind.PRODUCER,
                attributes={
                    "messaging.system": SYSTEM,
                    "messaging.operation.name": "tick",
                    "messaging.operation.type": "send",
                    "messaging.destination.name": queue,
                    "messaging.bingo.task_type": t.template.task_type.name,
                    "bingo.schedule.entry": t.entry_key,
                    "bingo.schedule.fire_time": t.fire_time,
                },
            )
            carrier = dict(t.template.options["headers"] or {})
            propagate.inject(carrier, context=trace.set_span_in_context(span, root))
            out.append((span, carrier))
        return out

    def tick_workflow_span(self, entry_key: str, fire_time: float) -> tuple[Span, dict[str, str]]:
        """A root span for a tick that starts a workflow, started, and the headers that
        carry its context to every step (``messaging.destination.name`` is set once the
        workflow's queue is known)."""
        root = otel_context.Context()
        span = self.tracer.start_span(
            f"tick {entry_key}",
            context=root,
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": SYSTEM,
                "messaging.operation.name": "tick",
                "messaging.operation.type": "send",
                "bingo.schedule.entry": entry_key,
                "bingo.schedule.fire_time": fire_time,
            },
        )
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=trace.set_span_in_context(span, root))
        return span, carrier

    @staticmethod
    def ticks_done(
        spans: Sequence[tuple[Span, dict[str, str]]],
        results: Sequence[Any] | None,
        error: BaseException | None = None,
    ) -> None:
        """End the tick spans with what became of each tick (its
        :class:`~bingo_core.ticks.TickResult`), or with the batch's error."""
        for i, (span, _) in enumerate(spans):
            if results is not None:
                r = results[i]
                if r.task_id:
                    span.set_attribute("messaging.message.id", r.task_id)
                if r.duplicate:
                    span.set_attribute("bingo.schedule.duplicate", True)
                if r.error:
                    span.set_status(Status(StatusCode.ERROR, r.error))
            elif error is not None:
                span.record_exception(error)
                span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
            span.end()

    # -- consumer -------------------------------------------------------------------------
    async def consume(self, ctx: TaskContext, payload: Any, call_next: CallNext) -> Any:
        """The consumer span of one attempt, a child of the context in its headers."""
        parent = propagate.extract(ctx.headers) if ctx.headers else otel_context.Context()
        with self.tracer.start_as_current_span(
            f"process {ctx.queue}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": SYSTEM,
                "messaging.operation.name": "process",
                "messaging.operation.type": "process",
                "messaging.destination.name": ctx.queue,
                "messaging.message.id": ctx.task_id,
                "messaging.bingo.task_type": ctx.type,
                "messaging.bingo.retry_count": ctx.retry_count,
            },
        ):
            return await call_next()

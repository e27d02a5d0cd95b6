"""Enqueue tasks: validate the payload against its model, encode, one script call.

Nothing is written to Redis unless every task of the call is valid.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from . import batches, waiting
from . import options as opts
from .asynq import produce
from .asynq.view import payload_view
from .broker import Prepared, refusal
from .broker.relays import deliver, deliver_async
from .broker.scripts import (
    CHUNK,
    ENQUEUED,
    EXISTS,
    AsynqPrepared,
    Call,
    EnqueueCode,
    Enqueued,
)
from .broker.waits import AsyncWaits, Waits
from .errors import (
    BulkEnqueueError,
    DuplicateTaskError,
    OptionError,
    PayloadError,
    TaskNotFound,
)
from .limits import Limits
from .loops import wait_until
from .message import MessageTemplate, TaskInfo
from .parts import Parts
from .records.servers import unserved
from .registry import Registry, TaskType
from .workflow import Compiled, Flow, Step, WorkflowInfo, compile_flow, workflow_calls

if TYPE_CHECKING:
    from .broker import AsyncBroker, Broker
    from .config import Settings

log = logging.getLogger("bingo.client")

#: One item of ``enqueue_many``: (type, payload) or (type, payload, options).
BulkItem = tuple[str, Any] | tuple[str, Any, Mapping[str, Any]]


def new_id() -> str:
    """A random 128-bit task id as 32 hex characters."""
    return os.urandom(16).hex()


def unique_digest(task_type: str, payload_json: str) -> str:
    """What makes two tasks identical for the ``unique`` option: type and payload."""
    return hashlib.sha1(
        task_type.encode() + b"\0" + payload_json.encode(), usedforsecurity=False
    ).hexdigest()


@dataclass(slots=True)
class Template:
    """A task type with one set of options, merged once: the defaults, the type's own and
    the given ones. The client keeps one per type for calls without options; the
    scheduler keeps one per schedule entry."""

    task_type: TaskType
    options: dict[str, Any]
    message: MessageTemplate
    #: Generated id, run now, no unique lock, no limits: the fast enqueue script.
    simple: bool
    #: The type's limits, or None, and the ``lim`` field up to the key value.
    limits: Limits | None = None
    lim_head: str = ""
    #: The options set by the type or the call (the others are defaults).
    explicit: frozenset[str] = frozenset()

    @classmethod
    def build(cls, tt: TaskType, given: Mapping[str, Any] | None = None) -> Template:
        merged = {**opts.DEFAULTS, **tt.options, **(given or {})}
        limits = Limits.of(tt.options)
        simple = (
            not (merged["task_id"] or merged["process_at"] is not None or merged["process_in"])
            and not merged["unique"]
            and not merged["depends_on"]
            and limits is None
            and not merged["headers"]
            and tt.batch is None
        )
        head = limits.head(tt.name) if limits is not None else ""
        explicit = frozenset(tt.options) | frozenset(given or ())
        return cls(tt, merged, MessageTemplate(tt.name, merged), simple, limits, head, explicit)

    def prepare_asynq(
        self, payload: bytes, now: float, headers: Mapping[str, str] | None = None
    ) -> AsynqPrepared:
        """One task of this template in Asynq's format (for a queue of ``asynq.queues``);
        ``payload`` is its bytes (JSON, or a raw type's own); ``headers``, when given,
        replace the template's."""
        options = self.options if headers is None else {**self.options, "headers": headers}
        return produce.prepare(self.task_type.name, options, self.explicit, payload, now)

    def prepare(
        self,
        payload_json: str,
        now: float,
        *,
        source: str | None = None,
        dedupe: tuple[str, float, float] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Prepared:
        """One task of this template. ``dedupe`` is (entry key, fire time, TTL seconds);
        ``headers``, when given, replace the template's."""
        merged = self.options
        task_id = merged["task_id"] or new_id()
        process_at = 0.0
        if merged["process_at"] is not None:
            process_at = float(merged["process_at"])
        elif merged["process_in"]:
            process_at = now + float(merged["process_in"])
        unique, unique_ttl = "", 0
        if merged["unique"]:
            unique = unique_digest(self.task_type.name, payload_json)
            unique_ttl = max(1, int(merged["unique"] * 1000))
        if headers is None:
            headers = merged["headers"]
        rule = self.task_type.batch
        # an item of a batched type is held: its batch task gets a message when it is cut
        msg = (
            "" if rule else self.message.encode(task_id, now, payload_json, unique, source, headers)
        )
        prepared = Prepared(self.message.queue, task_id, msg, process_at, unique, unique_ttl)
        if dedupe is not None:
            entry_key, fire_time, ttl = dedupe
            prepared.dedupe_entry = entry_key
            prepared.dedupe_ms = round(fire_time * 1000)
            prepared.dedupe_ttl_ms = max(1000, int(ttl * 1000))
        if rule is not None:
            prepared.batch = batches.item(rule, self.message, payload_json, headers)
            return prepared
        prepared.simple = self.simple and dedupe is None
        if merged["depends_on"]:
            deps, queue = merged["depends_on"], prepared.queue
            away = tuple((str(d), _queue(d, queue)) for d in deps if _queue(d, queue) != queue)
            if away:  # dependencies in other queues (given as TaskInfo)
                prepared.remote_deps = away
                deps = tuple(d for d in deps if _queue(d, queue) == queue)
            prepared.depends_on = deps
        if self.limits is not None:
            prepared.lim = self.limits.field(self.lim_head, payload_json)
        return prepared

    def info(
        self, prepared: Prepared | AsynqPrepared, payload: Any, now: float, source: str | None
    ) -> TaskInfo:
        """The :class:`TaskInfo` of a task just prepared (no decoding of its message)."""
        merged = self.options
        unique = prepared.unique if isinstance(prepared, Prepared) else prepared.unique_key
        return TaskInfo(
            id=prepared.id,
            type=self.task_type.name,
            queue=prepared.queue,
            # with dependencies: "waiting" until the enqueue says (_with_deps_state); an
            # item of a batched type: "held"
            state=_state(merged, prepared),
            payload=payload,
            max_retry=merged["max_retry"],
            timeout=merged["timeout"],
            deadline=merged["deadline"],
            retention=merged["retention"],
            unique_key=unique or None,
            enqueued_at=now,
            process_at=prepared.process_at or None,
            idempotent=merged["idempotent"],
            source=source,
            headers=merged["headers"] or None,
        )


def _state(merged: Mapping[str, Any], prepared: Prepared | AsynqPrepared) -> str:
    """The state of a task just enqueued, as far as the client knows before the enqueue
    answers: with dependencies "waiting", a batch item "held"."""
    if merged["depends_on"]:
        return "waiting"
    if isinstance(prepared, Prepared) and prepared.batch is not None:
        return "held"
    return "scheduled" if prepared.process_at else "pending"


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


def _queue(task_id: str, queue: str) -> str:
    """The queue of a dependency: its own (a :class:`~.options.QueuedId`) or ``queue``."""
    return getattr(task_id, "queue", queue)


def _workflow_calls(broker: Broker | AsyncBroker, compiled: Compiled) -> list[tuple[str, Call]]:
    return workflow_calls(compiled, broker.q, time.time())


def _with_deps_state(
    info: TaskInfo, prepared: Prepared | AsynqPrepared, code: EnqueueCode
) -> TaskInfo:
    """The info of a task enqueued with ``depends_on`` in the state it went to: waiting,
    archived (a dependency was), or pending/scheduled (every dependency had completed)."""
    if not isinstance(prepared, Prepared):
        return info
    if isinstance(code, Enqueued):
        state = code.state
    else:
        state = "scheduled" if prepared.process_at else "pending"
    # set on the info just built, which no one else holds yet (``replace`` costs ~20 µs)
    object.__setattr__(info, "state", state)
    return info


def refuse_past_deadline(options: Mapping[str, Any], where: str) -> None:
    """Raise :class:`OptionError` when the ``deadline`` given is not in the future: such a
    task could only be archived unrun."""
    deadline = options.get("deadline")
    now = time.time()
    if deadline is not None and deadline <= now:
        raise OptionError(
            f"{where}: deadline {_iso(deadline)} is already past (now {_iso(now)}); "
            f"give a time to come"
        )


def refuse_large_payload(task_type: str, payload_json: str | bytes, limit: int) -> None:
    """Raise :class:`PayloadError` when the payload's JSON (or raw bytes) is over
    ``limit`` bytes (``client.maxPayloadSize``; 0: no bound)."""
    if isinstance(payload_json, bytes):
        size = len(payload_json)
    elif not limit or len(payload_json) * 4 <= limit:  # UTF-8: at most 4 bytes a character
        return
    else:
        size = len(payload_json.encode())
    if limit and size > limit:
        raise PayloadError(
            f"payload for {task_type} is {size} bytes of JSON, over client.maxPayloadSize "
            f"({limit} bytes)"
        )


_HEADERS = opts.BY_NAME["headers"]


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class TaskBuilder:
    """Turns (type, payload, options) into :class:`Prepared` tasks."""

    def __init__(
        self,
        registry: Registry,
        max_payload_size: int = 0,
        zone: tzinfo | None = None,
        asynq_queues: Iterable[str] = (),
    ) -> None:
        self.registry = registry
        #: The queues kept in Asynq's format (``asynq.queues``).
        self.asynq_queues = frozenset(asynq_queues)
        #: Largest payload accepted (bytes of its JSON; ``client.maxPayloadSize``), 0: any.
        self.max_payload_size = max_payload_size
        #: The zone of a time given without an offset (``server.timezone``).
        self.zone = zone
        self._templates: dict[str, Template] = {}

    def template(
        self,
        task_type: str | TaskType,
        options: Mapping[str, Any] | None = None,
        *,
        where: str = "",
    ) -> Template:
        """The merged options of a type (cached when no options are given). Raises
        :class:`UnknownTaskType` or :class:`OptionError`."""
        tt = task_type if isinstance(task_type, TaskType) else self.registry.get(task_type)
        if options:
            given = opts.normalize(options, where=where or f"task {tt.name!r}", zone=self.zone)
            refuse_past_deadline(given, where or f"task {tt.name!r}")
            template = Template.build(tt, given)
            self._check_format(template, given)
            return template
        cached = self._templates.get(tt.name)
        if cached is None or cached.task_type is not tt:
            cached = Template.build(tt)
            self._check_format(cached, {})
            self._templates[tt.name] = cached
        return cached

    def refuse_large(self, task_type: str, payload_json: str) -> None:
        """Raise :class:`PayloadError` for a payload over ``client.maxPayloadSize``."""
        refuse_large_payload(task_type, payload_json, self.max_payload_size)

    def check_format(self, template: Template) -> None:
        """Raise :class:`OptionError` when the template's options have no form in its
        queue's format (a template built elsewhere: a schedule entry's)."""
        self._check_format(template, {})

    def is_asynq(self, template: Template) -> bool:
        """Whether the template's tasks go to a queue of ``asynq.queues``."""
        return template.message.queue in self.asynq_queues

    def _check_format(self, template: Template, given: Mapping[str, Any]) -> None:
        queue, name = template.message.queue, template.task_type.name
        if self.is_asynq(template):
            produce.refuse_options(queue, name, given)
            produce.check_template(queue, name, template.options)
            if template.task_type.batch is not None:
                raise OptionError(
                    f"task {name!r} to queue {queue!r}: a batched type cannot go to a queue "
                    f"of asynq.queues (Asynq's layout has no held items)"
                )
            if template.options["depends_on"]:
                raise OptionError(
                    f"task {name!r} to queue {queue!r}: option depends_on: an asynq.queues "
                    f"queue keeps Asynq's layout, which has no waiting tasks"
                )
        elif template.task_type.batch is not None:
            refused = batches.refuse_options(name, given)
            if refused:
                raise OptionError(refused)
        elif template.task_type.raw:
            raise OptionError(
                f"task {name!r} to queue {queue!r}: the type takes raw bytes, which only a "
                f"queue of asynq.queues carries"
            )

    def build(
        self,
        task_type: str,
        payload: Any,
        options: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[Prepared | AsynqPrepared, TaskInfo]:
        """Validate and encode one task (in Asynq's format for a queue of
        ``asynq.queues``); return it and its info. ``headers`` are added to the task's
        own (the trace context: the type's cached template stays in use). Raises
        :class:`UnknownTaskType`, :class:`PayloadError` or :class:`OptionError`."""
        template = self.template(task_type, options)
        tt = template.task_type
        value = tt.validate_payload(payload)
        if headers:
            headers = _added(template, headers)
        now = time.time()
        prepared: Prepared | AsynqPrepared
        if self.is_asynq(template):
            data = tt.payload_bytes(value)
            refuse_large_payload(tt.name, data, self.max_payload_size)
            prepared = template.prepare_asynq(data, now, headers or None)
        else:
            payload_json = tt.dump_payload(value)
            refuse_large_payload(tt.name, payload_json, self.max_payload_size)
            prepared = template.prepare(payload_json, now, headers=headers or None)
        if isinstance(value, BaseModel):
            value = value.model_dump(mode="json")
        elif tt.raw:
            value = payload_view(value)
        info = template.info(prepared, value, now, None)
        return prepared, (replace(info, headers=dict(headers)) if headers else info)

    def build_bulk(
        self,
        items: Iterable[BulkItem],
        asynq: list[tuple[int, AsynqPrepared]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Iterator[list[Prepared]]:
        """Validate every item first, then yield the encoded tasks in chunks.

        Items without options share one timestamp and their type's cached template,
        which is what makes bulk enqueue fast. Items for a queue of ``asynq.queues`` are
        put in ``asynq`` (with their index among the items) before the first chunk is
        yielded; without that list such an item is an :class:`OptionError`. ``headers``
        are added to every task's own (the trace context).
        """
        checked: list[tuple[Template, str]] = []
        plain: dict[str, Template] = {}
        now = time.time()
        for index, item in enumerate(items):
            if len(item) == 3 and item[2]:
                template = self.template(item[0], item[2])
            else:
                found = plain.get(item[0])
                template = plain[item[0]] = found or self.template(item[0])
            tt = template.task_type
            value = tt.validate_payload(item[1])
            if self.is_asynq(template):
                if asynq is None:
                    raise OptionError(
                        f"item {index}: queue {template.message.queue!r} is an asynq.queues queue"
                    )
                data = tt.payload_bytes(value)
                refuse_large_payload(tt.name, data, self.max_payload_size)
                extra = _added(template, headers) if headers else None
                asynq.append((index, template.prepare_asynq(data, now, extra)))
            else:
                payload_json = tt.dump_payload(value)
                refuse_large_payload(tt.name, payload_json, self.max_payload_size)
                checked.append((template, payload_json))
        if headers:
            yield from _chunks_with(checked, [_added(t, headers) for t, _ in checked], now)
            return
        stamp = repr(now)
        chunk: list[Prepared] = []
        urandom = os.urandom
        # The generated ids (16 random bytes each, as 32 hex digits), drawn a chunk at a
        # time: one system call per chunk, not per task.
        ids, used = "", 0
        for template, payload_json in checked:
            if template.simple:
                if used == len(ids):
                    ids, used = urandom(16 * CHUNK).hex(), 0
                task_id = ids[used : used + 32]
                used += 32
                msg = template.message.encode_plain(task_id, stamp, payload_json)
                chunk.append(Prepared(template.message.queue, task_id, msg, simple=True))
            else:
                chunk.append(template.prepare(payload_json, now))
            if len(chunk) == CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


def _added(template: Template, headers: Mapping[str, str]) -> dict[str, str]:
    """The template's headers with ``headers`` added, checked (size) as the option is."""
    own = template.options["headers"]
    return dict(_HEADERS.check({**own, **headers} if own else headers))


def _chunks_with(
    checked: Sequence[tuple[Template, str]], headers: Sequence[dict[str, str]], now: float
) -> Iterator[list[Prepared]]:
    """The chunks of :meth:`TaskBuilder.build_bulk` when each task has its ``headers``."""
    tasks = [t.prepare(p, now, headers=h) for (t, p), h in zip(checked, headers, strict=True)]
    for start in range(0, len(tasks), CHUNK):
        yield tasks[start : start + CHUNK]


def _tick_results(
    ticks: Sequence[Tick], prepared: Sequence[Prepared], codes: Sequence[Any]
) -> list[TickResult]:
    out = []
    for p, code in zip(prepared, codes, strict=True):
        if code == ENQUEUED:
            out.append(TickResult(p.id, enqueued=True))
        elif isinstance(code, str):
            out.append(TickResult(code, duplicate=True))
        else:
            out.append(TickResult("", error=str(refusal(code, p))))
    return out


def _parts_for(
    settings: Settings | None, redis_url: str | None, registry: Registry | None
) -> Parts:
    """The parts of a client made without an app."""
    if settings is not None and redis_url:
        settings = settings.model_copy(deep=True)
        settings.redis.url = redis_url
        return Parts(settings, registry=registry)
    if settings is None and redis_url:
        return Parts(overrides={"redis.url": redis_url}, registry=registry)
    return Parts(settings, registry=registry)


class Entry(Protocol):
    """What :meth:`Client.run_entry` uses of a schedule entry (a compiled one)."""

    @property
    def key(self) -> str: ...

    task_type: TaskType
    #: The entry's task options, as its ticks use them.
    options: dict[str, Any]
    payload_json: str
    # An entry with a ``flow`` attribute not None (``CompiledEntry.flow``) starts that
    # workflow instead (with its ``on_failure`` step, if it has one).


def _entry_task(
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


def find_task(broker: Broker, task_id: str, queue: str | None) -> TaskInfo:
    """The task as stored now, in ``queue`` or the first queue that knows it."""
    reader = broker.reader
    for q in [queue] if queue else reader.queues():
        found = reader.get_task(q, task_id, missing_ok=True)
        if found is not None:
            return found
    where = f"queue {queue!r}" if queue else "any queue"
    raise TaskNotFound(f"no task {task_id!r} in {where} ({waiting.NOT_KEPT})")


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
        self.app = app if app is not None else _parts_for(settings, redis_url, registry)
        self._own_app = app is None
        self.settings = self.app.settings
        self.registry = self.app.registry
        self.broker = broker if broker is not None else self.app.broker
        self.builder = TaskBuilder(
            self.registry,
            self.settings.client.max_payload_size,
            self.app.timezone,
            self.settings.asynq.queues,
        )
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
        return _with_deps_state(info, prepared, code) if prepared.depends_on else info

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
        template, prepared, payload, now = _entry_task(entry, self.builder, headers)
        if isinstance(prepared, AsynqPrepared):
            code = self.broker.enqueue_asynq([prepared])[0]
        else:
            code = self.broker.enqueue([prepared])[0]
        if code != ENQUEUED:
            raise refusal(code, prepared)
        if isinstance(prepared, Prepared) and prepared.queue not in self._looked_at:
            self._look_at(prepared.queue)
        info = template.info(prepared, payload, now, entry.key)
        return replace(info, headers=dict(headers)) if headers else info

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
        compiled = compile_flow(self.builder, flow, on_failure, headers, carried)
        calls = _workflow_calls(self.broker, compiled)
        for queue, call in calls:
            if not self.broker.enqueue_workflow(queue, call):
                raise DuplicateTaskError(f"workflow {compiled.id}: its id or a step id exists")
        if len(calls) > 1:  # open the other queues' first steps now (the relay would too)
            deliver(self.broker, [compiled.queue])
        return WorkflowInfo(compiled.id, [t.id for t in compiled.steps], compiled.queue)

    def info(self, task_id: str, *, queue: str | None = None) -> TaskInfo:
        """The task as stored now: state, payload, last error, kept result and
        ``progress`` (what its handler last reported with ``ctx.progress``, or None).
        ``queue`` as for :meth:`wait`; :class:`TaskNotFound` when no queue knows it."""
        return find_task(self.broker, task_id, queue)

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
        self.app = app if app is not None else _parts_for(settings, None, registry)
        self.settings = self.app.settings
        self.registry = self.app.registry
        self.broker = broker if broker is not None else self.app.async_broker()
        self.builder = TaskBuilder(
            self.registry,
            self.settings.client.max_payload_size,
            self.app.timezone,
            self.settings.asynq.queues,
        )
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
        return _with_deps_state(info, prepared, code)

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
        template, prepared, payload, now = _entry_task(entry, self.builder, headers)
        if isinstance(prepared, AsynqPrepared):
            code = (await self.broker.enqueue_asynq([prepared]))[0]
        else:
            code = (await self.broker.enqueue([prepared]))[0]
        if code != ENQUEUED:
            raise refusal(code, prepared)
        info = template.info(prepared, payload, now, entry.key)
        return replace(info, headers=dict(headers)) if headers else info

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
        compiled = compile_flow(self.builder, flow, on_failure, headers, carried)
        calls = _workflow_calls(self.broker, compiled)
        for queue, call in calls:
            if not await self.broker.enqueue_workflow(queue, call):
                raise DuplicateTaskError(f"workflow {compiled.id}: its id or a step id exists")
        if len(calls) > 1:  # open the other queues' first steps now (the relay would too)
            await deliver_async(self.broker, [compiled.queue])
        return WorkflowInfo(compiled.id, [t.id for t in compiled.steps], compiled.queue)

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
        return await asyncio.to_thread(find_task, self.app.broker, task_id, queue)

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
        mine = [t for t in ticks if not self.builder.is_asynq(t.template)]
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
        if not_before is not None:
            await wait_until(not_before)
        codes = await self.broker.enqueue(prepared) if prepared else []
        results = dict(zip(map(id, mine), _tick_results(mine, prepared, codes), strict=True))
        if len(mine) < len(ticks):
            rest = [t for t in ticks if id(t) not in results]
            results.update(await self._asynq_ticks(rest, headers))
        return [results[id(t)] for t in ticks]

    async def _asynq_ticks(
        self, ticks: Sequence[Tick], headers: Mapping[int, dict[str, str]]
    ) -> dict[int, TickResult]:
        """Ticks into queues of ``asynq.queues``. An Asynq task has no dedupe key: its id is
        made of the entry and the fire time, so a second enqueue of the tick is refused
        as a task id in use while the task exists (the leader's fencing is the first
        barrier)."""
        now = time.time()
        out: dict[int, TickResult] = {}
        tasks: list[tuple[Tick, AsynqPrepared]] = []
        for t in ticks:
            try:
                self.builder.check_format(t.template)
            except OptionError as exc:
                out[id(t)] = TickResult("", error=str(exc))
                continue
            task_id = asynq_tick_id(t.entry_key, t.fire_time)
            template = replace(t.template, options={**t.template.options, "task_id": task_id})
            prepared = template.prepare_asynq(t.payload_json.encode(), now, headers.get(id(t)))
            tasks.append((t, prepared))
        codes = await self.broker.enqueue_asynq([p for _, p in tasks]) if tasks else []
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

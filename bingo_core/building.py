"""Building a task message: a type's options merged once (:class:`Template`), a payload
validated against its model and encoded (:class:`TaskBuilder`), and the refusals made before
anything is written (a past deadline, a payload over ``client.maxPayloadSize``).

No I/O here: :mod:`.client` sends what this module builds.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from typing import Any

from pydantic import BaseModel

from . import batches
from . import options as opts
from .asynq import produce
from .asynq.view import payload_view
from .broker import Prepared
from .broker.scripts import CHUNK, AsynqPrepared, EnqueueCode, Enqueued
from .errors import OptionError, PayloadError
from .limits import Limits
from .message import MessageTemplate, TaskInfo
from .registry import Registry, TaskType

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
            # with dependencies: "waiting" until the enqueue says (with_deps_state); an
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


def _queue(task_id: str, queue: str) -> str:
    """The queue of a dependency: its own (a :class:`~.options.QueuedId`) or ``queue``."""
    return getattr(task_id, "queue", queue)


def with_deps_state(
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

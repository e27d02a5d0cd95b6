"""Enqueue tasks: validate the payload against its model, encode, one script call.

Nothing is written to Redis unless every task of the call is valid.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from . import options as opts
from .broker import Prepared, refusal
from .broker.scripts import CHUNK, ENQUEUED
from .errors import BulkEnqueueError
from .message import MessageTemplate, TaskInfo
from .registry import Registry, TaskType

if TYPE_CHECKING:
    from .app import App
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
    #: Generated id, run now, no unique lock: the fast enqueue script.
    simple: bool

    @classmethod
    def build(cls, tt: TaskType, given: Mapping[str, Any] | None = None) -> Template:
        merged = {**opts.DEFAULTS, **tt.options, **(given or {})}
        simple = (
            not (merged["task_id"] or merged["process_at"] is not None or merged["process_in"])
            and not merged["unique"]
        )
        return cls(tt, merged, MessageTemplate(tt.name, merged), simple)

    def prepare(
        self,
        payload_json: str,
        now: float,
        *,
        source: str | None = None,
        dedupe: tuple[str, float, float] | None = None,
    ) -> Prepared:
        """One task of this template. ``dedupe`` is (entry key, fire time, TTL seconds)."""
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
        msg = self.message.encode(task_id, now, payload_json, unique, source)
        prepared = Prepared(self.message.queue, task_id, msg, process_at, unique, unique_ttl)
        if dedupe is not None:
            entry_key, fire_time, ttl = dedupe
            prepared.dedupe_entry = entry_key
            prepared.dedupe_ms = round(fire_time * 1000)
            prepared.dedupe_ttl_ms = max(1000, int(ttl * 1000))
        prepared.simple = self.simple and dedupe is None
        return prepared

    def info(self, prepared: Prepared, payload: Any, now: float, source: str | None) -> TaskInfo:
        """The :class:`TaskInfo` of a task just prepared (no decoding of its message)."""
        merged = self.options
        return TaskInfo(
            id=prepared.id,
            type=self.task_type.name,
            queue=prepared.queue,
            state="scheduled" if prepared.process_at else "pending",
            payload=payload,
            max_retry=merged["max_retry"],
            timeout=merged["timeout"],
            deadline=merged["deadline"],
            retention=merged["retention"],
            unique_key=prepared.unique or None,
            enqueued_at=now,
            process_at=prepared.process_at or None,
            idempotent=merged["idempotent"],
            source=source,
        )


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


class TaskBuilder:
    """Turns (type, payload, options) into :class:`Prepared` tasks."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
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
            given = opts.normalize(options, where=where or f"task {tt.name!r}")
            return Template.build(tt, given)
        cached = self._templates.get(tt.name)
        if cached is None or cached.task_type is not tt:
            cached = self._templates[tt.name] = Template.build(tt)
        return cached

    def build(
        self, task_type: str, payload: Any, options: Mapping[str, Any] | None = None
    ) -> tuple[Prepared, TaskInfo]:
        """Validate and encode one task; return it and its info. Raises
        :class:`UnknownTaskType`, :class:`PayloadError` or :class:`OptionError`."""
        template = self.template(task_type, options)
        tt = template.task_type
        value = tt.validate_payload(payload)
        payload_json = tt.dump_payload(value)
        if isinstance(value, BaseModel):
            value = value.model_dump(mode="json")
        now = time.time()
        prepared = template.prepare(payload_json, now)
        return prepared, template.info(prepared, value, now, None)

    def build_bulk(self, items: Iterable[BulkItem]) -> Iterator[list[Prepared]]:
        """Validate every item first, then yield the encoded tasks in chunks.

        Items without options share one timestamp and their type's cached template,
        which is what makes bulk enqueue fast.
        """
        checked: list[tuple[Template, str]] = []
        plain: dict[str, Template] = {}
        for item in items:
            if len(item) == 3 and item[2]:
                template = self.template(item[0], item[2])
            else:
                found = plain.get(item[0])
                template = plain[item[0]] = found or self.template(item[0])
            tt = template.task_type
            checked.append((template, tt.dump_payload(tt.validate_payload(item[1]))))
        now = time.time()
        stamp = repr(now)
        chunk: list[Prepared] = []
        urandom = os.urandom
        for template, payload_json in checked:
            if template.simple:
                task_id = urandom(16).hex()
                msg = template.message.encode_plain(task_id, stamp, payload_json)
                chunk.append(Prepared(template.message.queue, task_id, msg, simple=True))
            else:
                chunk.append(template.prepare(payload_json, now))
            if len(chunk) == CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


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


def _app_for(settings: Settings | None, redis_url: str | None, registry: Registry | None) -> App:
    from .app import App

    if settings is not None and redis_url:
        settings = settings.model_copy(deep=True)
        settings.redis.url = redis_url
        return App(settings, registry=registry)
    if settings is None and redis_url:
        return App(overrides={"redis.url": redis_url}, registry=registry)
    return App(settings, registry=registry)


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
        app: App | None = None,
    ) -> None:
        self.app = app if app is not None else _app_for(settings, redis_url, registry)
        self._own_app = app is None
        self.settings = self.app.settings
        self.registry = self.app.registry
        self.broker = broker if broker is not None else self.app.broker
        self.builder = TaskBuilder(self.registry)
        #: Warnings given so far (a queue no live worker consumes), each logged once.
        self.warnings: list[str] = []
        self._looked_at: set[str] = set()

    def enqueue(self, task_type: str, payload: Any = None, **options: Any) -> TaskInfo:
        """Validate and enqueue one task; return its info.

        Raises :class:`PayloadError`, :class:`UnknownTaskType`, :class:`OptionError` before
        anything is written, :class:`DuplicateTaskError` / :class:`UniqueTaskError` when
        Redis refuses it, :class:`ServiceUnavailable` when Redis does not answer. The
        first task for a queue that no live worker consumes logs one warning.
        """
        prepared, info = self.builder.build(task_type, payload, options)
        code = self.broker.enqueue([prepared])[0]
        if code != ENQUEUED:
            raise refusal(code, prepared)
        if prepared.queue not in self._looked_at:
            self._look_at(prepared.queue)
        return info

    def _look_at(self, queue: str) -> None:
        self._looked_at.add(queue)
        if queue in self.app.inspector.unserved([queue]):
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
        enqueued and :class:`BulkEnqueueError` lists the refused ones by index.
        """
        ids: list[str] = []
        prepared: list[Prepared] = []

        def chunks() -> Iterator[list[Prepared]]:
            for chunk in self.builder.build_bulk(items):
                prepared.extend(chunk)
                yield chunk

        codes = self.broker.enqueue_stream(chunks())
        refused: dict[int, str] = {}
        for i, (p, code) in enumerate(zip(prepared, codes, strict=True)):
            ids.append(p.id)
            if code != ENQUEUED:
                refused[i] = str(refusal(code, p))
        if refused:
            raise BulkEnqueueError(ids, refused)
        return ids

    def close(self) -> None:
        """Close the connections (of the app this client made itself)."""
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
        app: App | None = None,
    ) -> None:
        self.app = app if app is not None else _app_for(settings, None, registry)
        self.settings = self.app.settings
        self.registry = self.app.registry
        self.broker = broker if broker is not None else self.app.async_broker()
        self.builder = TaskBuilder(self.registry)

    async def enqueue(self, task_type: str, payload: Any = None, **options: Any) -> TaskInfo:
        """Validate and enqueue one task; return its info (see :meth:`Client.enqueue`)."""
        prepared, info = self.builder.build(task_type, payload, options)
        code = (await self.broker.enqueue([prepared]))[0]
        if code != ENQUEUED:
            raise refusal(code, prepared)
        return info

    async def enqueue_ticks(self, ticks: Sequence[Tick]) -> list[TickResult]:
        """Enqueue scheduler ticks in one round trip, each at most once: a tick whose
        ``(entry, fire time)`` was enqueued before (by any daemon) is refused and its
        task id returned instead. One result per tick, in order."""
        now = time.time()
        prepared = [
            t.template.prepare(
                t.payload_json,
                now,
                source=t.entry_key,
                dedupe=(t.entry_key, t.fire_time, t.dedupe_ttl),
            )
            for t in ticks
        ]
        codes = await self.broker.enqueue(prepared) if prepared else []
        return _tick_results(ticks, prepared, codes)

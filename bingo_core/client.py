"""Enqueue tasks: validate the payload against its model, encode, one script call.

Nothing is written to Redis unless every task of the call is valid.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from . import options as opts
from .broker import AsyncBroker, Broker, Prepared, refusal
from .broker.scripts import CHUNK
from .errors import BulkEnqueueError
from .message import TaskInfo
from .registry import Registry, TaskType

if TYPE_CHECKING:
    from .config import Settings

#: One item of ``enqueue_many``: (type, payload) or (type, payload, options).
BulkItem = tuple[str, Any] | tuple[str, Any, Mapping[str, Any]]


def new_id() -> str:
    """A random 128-bit task id as 32 hex characters."""
    return os.urandom(16).hex()


class TaskBuilder:
    """Turns (type, payload, options) into a :class:`Prepared` task and its info."""

    def __init__(self, registry: Registry, prefix: str) -> None:
        self.registry = registry
        from .broker.keys import Keys

        self.keys = Keys(prefix)
        self._tails: dict[str, tuple[str, dict[str, Any]]] = {}
        self._merged: dict[str, dict[str, Any]] = {}

    def _tail(self, tt: TaskType, merged: dict[str, Any]) -> str:
        backoff = merged["retry_backoff"]
        fields = {
            "type": tt.name,
            "queue": merged["queue"],
            "retry": merged["max_retry"],
            "timeout": merged["timeout"],
            "deadline": merged["deadline"],
            "retention": merged["retention"],
            "backoff": backoff if isinstance(backoff, int | float) else None,
            "idempotent": merged["idempotent"],
            "isolation": merged["isolation"],
        }
        return json.dumps(fields, separators=(",", ":"))[1:-1]

    def _defaults(self, tt: TaskType) -> tuple[str, dict[str, Any]]:
        cached = self._tails.get(tt.name)
        if cached is None or cached[1] is not tt.options:
            merged = {**opts.DEFAULTS, **tt.options}
            cached = self._tails[tt.name] = (self._tail(tt, merged), tt.options)
        return cached

    def build(
        self,
        task_type: str,
        payload: Any,
        options: Mapping[str, Any] | None = None,
        *,
        source: str | None = None,
        dedupe: tuple[str, int, float] | None = None,
        payload_json: str | None = None,
    ) -> tuple[Prepared, dict[str, Any]]:
        """Validate and encode one task. ``dedupe`` is (entry key, fire time, TTL seconds).

        Returns the task ready for the broker and its merged options (the task info's
        fields). Raises :class:`UnknownTaskType`, :class:`PayloadError` or
        :class:`OptionError`.
        """
        tt = self.registry.get(task_type)
        if payload_json is None:
            value = tt.validate_payload(payload)
            payload_json = tt.dump_payload(value)
            if isinstance(value, dict):
                payload = value
        if isinstance(payload, BaseModel):
            payload = payload.model_dump(mode="json")
        now = time.time()
        if options:
            given = opts.normalize(options, where=f"task {task_type!r}")
            merged = {**opts.DEFAULTS, **tt.options, **given}
            tail = self._tail(tt, merged)
        else:
            tail, _ = self._defaults(tt)
            merged = self._merged.get(task_type) or self._merge(tt)
        task_id = merged["task_id"] or new_id()
        queue = merged["queue"]
        process_at = 0.0
        if merged["process_at"] is not None:
            process_at = float(merged["process_at"])
        elif merged["process_in"]:
            process_at = now + float(merged["process_in"])
        unique_key, unique_ttl = "", 0
        if merged["unique"]:
            unique_key = self.keys.queue(queue).unique(task_type, payload_json)
            unique_ttl = max(1, int(merged["unique"] * 1000))
            tail += ',"unique_key":' + json.dumps(unique_key)
        if source:
            tail += ',"source":' + json.dumps(source)
        msg = f'{{"id":"{task_id}","enqueued_at":{now!r},"payload":{payload_json},{tail}}}'
        prepared = Prepared(queue, task_id, msg, process_at, unique_key, unique_ttl)
        if dedupe is not None:
            entry_key, fire_time, ttl = dedupe
            prepared.dedupe_key = self.keys.queue(queue).tick(entry_key, fire_time)
            prepared.dedupe_ttl_ms = max(1000, int(ttl * 1000))
        prepared.simple = not (merged["task_id"] or process_at or unique_key or dedupe)
        return prepared, {
            **merged,
            "_enqueued_at": now,
            "_payload": payload,
            "_type": task_type,
            "_source": source,
        }

    def build_bulk(self, items: Iterable[BulkItem]) -> Iterator[list[Prepared]]:
        """Validate every item first, then yield the encoded tasks in chunks.

        Items without options take a lean path (one timestamp for the batch, the type's
        cached message tail), which is what makes bulk enqueue fast.
        """
        checked: list[tuple[TaskType | None, Any, Any, Mapping[str, Any] | None]] = []
        get = self.registry.get
        for item in items:
            options = item[2] if len(item) == 3 else None
            if options:
                checked.append((None, item[0], item[1], options))
                continue
            known = get(item[0])
            checked.append(
                (known, item[0], known.dump_payload(known.validate_payload(item[1])), None)
            )
        for maybe, name, payload, options in checked:
            if maybe is None:  # check options (and payloads) of the slow items up front too
                self.build(name, payload, options)
        now = repr(time.time())
        chunk: list[Prepared] = []
        for maybe, name, payload, options in checked:
            if maybe is None:
                chunk.append(self.build(name, payload, options)[0])
            else:
                tt = maybe
                tail = self._defaults(tt)[0]
                merged = self._merged.get(name) or self._merge(tt)
                task_id = os.urandom(16).hex()
                msg = f'{{"id":"{task_id}","enqueued_at":{now},"payload":{payload},{tail}}}'
                chunk.append(Prepared(merged["queue"], task_id, msg, simple=True))
            if len(chunk) == CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def _merge(self, tt: TaskType) -> dict[str, Any]:
        merged = self._merged[tt.name] = {**opts.DEFAULTS, **tt.options}
        return merged

    @staticmethod
    def info(prepared: Prepared, merged: dict[str, Any]) -> TaskInfo:
        """The :class:`TaskInfo` of a task just built (no decoding of its message)."""
        return TaskInfo(
            id=prepared.id,
            type=merged["_type"],
            queue=prepared.queue,
            state="scheduled" if prepared.process_at else "pending",
            payload=merged["_payload"],
            max_retry=merged["max_retry"],
            timeout=merged["timeout"],
            deadline=merged["deadline"],
            retention=merged["retention"],
            unique_key=prepared.unique_key or None,
            enqueued_at=merged["_enqueued_at"],
            process_at=prepared.process_at or None,
            idempotent=merged["idempotent"],
            source=merged["_source"],
        )


def _registry_from(settings: Settings | None) -> Registry:
    from .plugins import load_plugins

    _, registry = load_plugins()
    return registry


def _redis_settings(settings: Settings | None, redis_url: str | None) -> Any:
    if settings is None:
        from .config import load_settings

        overrides = {"redis.url": redis_url} if redis_url else None
        settings = load_settings(None, overrides=overrides)
    elif redis_url:
        settings = settings.model_copy(deep=True)
        settings.redis.url = redis_url
    return settings


class Client:
    """Enqueue tasks from any Python program.

    ``Client()`` reads the config the CLI would (``$BINGO_CONFIG`` or
    ``config/bingo-scheduler.yaml``) and the installed plugins; pass ``settings``,
    ``redis_url`` or ``registry`` to choose them.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        redis_url: str | None = None,
        registry: Registry | None = None,
        broker: Broker | None = None,
    ) -> None:
        self.settings = _redis_settings(settings, redis_url)
        self.registry = registry if registry is not None else _registry_from(self.settings)
        self.broker = broker if broker is not None else Broker(self.settings.redis)
        self.builder = TaskBuilder(self.registry, self.settings.redis.prefix)

    def enqueue(self, task_type: str, payload: Any = None, **options: Any) -> TaskInfo:
        """Validate and enqueue one task; return its info.

        Raises :class:`PayloadError`, :class:`UnknownTaskType`, :class:`OptionError` before
        anything is written, :class:`DuplicateTaskError` / :class:`UniqueTaskError` when
        Redis refuses it, :class:`ServiceUnavailable` when Redis does not answer.
        """
        prepared, merged = self.builder.build(task_type, payload, options)
        code = self.broker.enqueue([prepared])[0]
        if code != 1:
            raise refusal(code, prepared)
        return self.builder.info(prepared, merged)

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
            if code != 1:
                refused[i] = str(refusal(code, p))
        if refused:
            raise BulkEnqueueError(ids, refused)
        return ids

    def close(self) -> None:
        self.broker.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient:
    """The asyncio twin of :class:`Client` (used by the scheduler and async programs)."""

    def __init__(self, settings: Settings, registry: Registry, broker: AsyncBroker) -> None:
        self.settings = settings
        self.registry = registry
        self.broker = broker
        self.builder = TaskBuilder(registry, settings.redis.prefix)

    async def enqueue(self, task_type: str, payload: Any = None, **options: Any) -> TaskInfo:
        prepared, merged = self.builder.build(task_type, payload, options)
        code = (await self.broker.enqueue([prepared]))[0]
        if code != 1:
            raise refusal(code, prepared)
        return self.builder.info(prepared, merged)

    async def enqueue_prepared(self, prepared: list[Prepared]) -> list[int]:
        """Enqueue tasks built with ``self.builder``; return the script codes."""
        return await self.broker.enqueue(prepared)

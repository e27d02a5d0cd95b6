"""The task message stored in Redis (:class:`TaskMessage`), and :class:`TaskInfo`, what
callers see of a task.

A task is a Redis hash ``P:{q}:t:<id>``; its ``msg`` field is the message's JSON, written
once at enqueue and never changed::

    {"id": "...", "enqueued_at": 1767225600.0, "payload": {...}, "type": "task:x",
     "queue": "default", "max_retry": 25, "timeout": 1800.0, "deadline": null,
     "retention": 0.0, "retry_backoff": null, "idempotent": false,
     "isolation": "thread", "unique_key": "...", "source": "..."}

(``unique_key`` and ``source`` only when set.) The mutable parts (``state``, ``retried``,
``error``, ``failed_at``, ``result``, ...) are separate hash fields so state changes never
rewrite the message. This module is the only place that knows the format: the client and
the scheduler encode through :class:`MessageTemplate`, the worker and the inspector
decode with :meth:`TaskMessage.decode`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

from pydantic_core import from_json

from .errors import MalformedTask

#: The option fields every message carries, in their order, with their defaults.
OPTION_FIELDS: dict[str, Any] = {
    "max_retry": 25,
    "timeout": 1800.0,
    "deadline": None,
    "retention": 0.0,
    "retry_backoff": None,
    "idempotent": False,
    "isolation": "thread",
}
REQUIRED = ("id", "type", "queue", "payload", "max_retry")


class MessageTemplate:
    """The fixed part of every message of one task type with one set of options
    (type, queue and the option fields), encoded once and reused for each task.

    ``options`` are merged task options (:mod:`bingo_core.options` names); a callable
    ``retry_backoff`` stays with the task type and is not stored in the message.
    """

    __slots__ = ("queue", "tail", "type")

    def __init__(self, task_type: str, options: Mapping[str, Any]) -> None:
        self.type = task_type
        self.queue: str = options["queue"]
        fields: dict[str, Any] = {"type": task_type, "queue": self.queue}
        for name in OPTION_FIELDS:
            value = options.get(name, OPTION_FIELDS[name])
            if name == "retry_backoff" and not isinstance(value, int | float):
                value = None
            fields[name] = value
        self.tail = json.dumps(fields, separators=(",", ":"))[1:-1]

    def encode_plain(self, task_id: str, stamp: str, payload_json: str) -> str:
        """The message of a task with no unique key and no source; ``stamp`` is the
        enqueue time already formatted (``repr`` of epoch seconds), shared by a batch."""
        return f'{{"id":"{task_id}","enqueued_at":{stamp},"payload":{payload_json},{self.tail}}}'

    def encode(
        self,
        task_id: str,
        enqueued_at: float,
        payload_json: str,
        unique_key: str = "",
        source: str | None = None,
    ) -> str:
        """The message's JSON (``payload_json`` is the payload already encoded)."""
        extra = ""
        if unique_key:
            extra += ',"unique_key":' + json.dumps(unique_key)
        if source:
            extra += ',"source":' + json.dumps(source)
        return (
            f'{{"id":"{task_id}","enqueued_at":{enqueued_at!r},'
            f'"payload":{payload_json},{self.tail}{extra}}}'
        )


class TaskMessage(NamedTuple):
    """One task's immutable message, as stored in the task hash's ``msg`` field."""

    id: str
    type: str
    queue: str
    payload: Any
    max_retry: int = 25
    timeout: float = 1800.0
    deadline: float | None = None
    retention: float = 0.0
    retry_backoff: float | None = None
    idempotent: bool = False
    isolation: str = "thread"
    unique_key: str | None = None
    source: str | None = None
    enqueued_at: float = 0.0

    def encode(self) -> str:
        """The message's JSON."""
        options = {name: getattr(self, name) for name in OPTION_FIELDS}
        template = MessageTemplate(self.type, {"queue": self.queue, **options})
        payload = json.dumps(self.payload, separators=(",", ":"))
        return template.encode(
            self.id, self.enqueued_at, payload, self.unique_key or "", self.source
        )

    @classmethod
    def decode(cls, raw: bytes | str) -> TaskMessage:
        """Decode a message, raising :class:`MalformedTask` with the reason."""
        try:
            data = from_json(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedTask(f"message is not valid JSON: {exc}") from None
        if type(data) is not dict:
            raise MalformedTask("message is not a JSON object")
        get = data.get
        try:
            # Every field the client writes is there: index it (the fast path).
            msg = _new(
                cls,
                (
                    data["id"],
                    data["type"],
                    data["queue"],
                    data["payload"],
                    data["max_retry"],
                    data["timeout"],
                    data["deadline"],
                    data["retention"],
                    data["retry_backoff"],
                    data["idempotent"] is True,
                    data["isolation"],
                    get("unique_key"),
                    get("source"),
                    data["enqueued_at"],
                ),
            )
        except KeyError:
            msg = cls._from_partial(data)
        if (
            type(msg.id) is not str
            or type(msg.type) is not str
            or type(msg.queue) is not str
            or type(msg.max_retry) is not int
            or type(msg.isolation) is not str
            or (msg.unique_key is not None and type(msg.unique_key) is not str)
            or (msg.source is not None and type(msg.source) is not str)
        ):
            raise MalformedTask(
                "message field id, type, queue, max_retry, isolation, unique_key or source "
                "has the wrong type"
            )
        numbers = _NUMBERS
        if (
            type(msg.timeout) not in numbers
            or type(msg.retention) not in numbers
            or type(msg.enqueued_at) not in numbers
            or (msg.deadline is not None and type(msg.deadline) not in numbers)
            or (msg.retry_backoff is not None and type(msg.retry_backoff) not in numbers)
        ):
            raise MalformedTask(
                "message field timeout, retention, enqueued_at, deadline or retry_backoff "
                "is not a number"
            )
        return msg

    @classmethod
    def _from_partial(cls, data: dict[str, Any]) -> TaskMessage:
        """A message missing optional fields (written by hand or by an older client)."""
        missing = [k for k in REQUIRED if k not in data]
        if missing:
            raise MalformedTask(f"message lacks field(s) {', '.join(missing)}")
        get = data.get
        return cls(
            data["id"],
            data["type"],
            data["queue"],
            data["payload"],
            data["max_retry"],
            get("timeout") or 0.0,
            get("deadline"),
            get("retention") or 0.0,
            get("retry_backoff"),
            get("idempotent") is True,
            get("isolation") or "thread",
            get("unique_key"),
            get("source"),
            get("enqueued_at") or 0.0,
        )


_new = tuple.__new__
_NUMBERS = (int, float)


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _num(value: Any) -> float | None:
    if value in (None, b"", ""):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


@dataclass
class TaskInfo:
    """A task as stored: its message fields plus its current state."""

    id: str
    type: str
    queue: str
    state: str
    payload: Any = None
    max_retry: int = 0
    retried: int = 0
    error: str = ""
    timeout: float = 0.0
    deadline: float | None = None
    retention: float = 0.0
    unique_key: str | None = None
    enqueued_at: float | None = None
    process_at: float | None = None
    started_at: float | None = None
    failed_at: float | None = None
    completed_at: float | None = None
    idempotent: bool = False
    source: str | None = None
    worker: str | None = None
    #: The handler's return value while the completed task is retained (JSON data).
    result: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_message(cls, msg: TaskMessage, state: str, retried: int = 0) -> TaskInfo:
        """The info of a decoded message in ``state``."""
        return cls(
            id=msg.id,
            type=msg.type,
            queue=msg.queue,
            state=state,
            payload=msg.payload,
            max_retry=msg.max_retry,
            retried=retried,
            timeout=msg.timeout,
            deadline=msg.deadline,
            retention=msg.retention,
            unique_key=msg.unique_key,
            enqueued_at=msg.enqueued_at or None,
            idempotent=msg.idempotent,
            source=msg.source,
        )

    @classmethod
    def from_hash(cls, queue: str, task_id: str, fields: dict[Any, Any]) -> TaskInfo:
        """Build from a task hash (``HGETALL``); a malformed message is shown, not raised."""
        data = {_text(k): v for k, v in fields.items()}
        state = _text(data.get("state", "unknown"))
        retried = int(_num(data.get("retried")) or 0)
        try:
            info = cls.from_message(TaskMessage.decode(data.get("msg", b"")), state, retried)
        except MalformedTask as exc:
            info = cls(
                id=task_id,
                type="?",
                queue=queue,
                state=state,
                retried=retried,
                error=f"malformed: {exc}",
            )
        if data.get("error"):
            info.error = _text(data["error"])
        info.process_at = _num(data.get("process_at"))
        info.started_at = _num(data.get("started_at"))
        info.failed_at = _num(data.get("failed_at"))
        info.completed_at = _num(data.get("completed_at"))
        if data.get("worker"):
            info.worker = _text(data["worker"])
        raw_result = data.get("result")
        if raw_result is not None:
            try:
                info.result = from_json(raw_result)
            except ValueError:
                info.result = _text(raw_result)
        return info

    def to_dict(self) -> dict[str, Any]:
        """The info as JSON-ready data."""
        out = asdict(self)
        out.pop("extra")
        return out

"""The task message stored in Redis (:class:`TaskMessage`), and :class:`TaskInfo`, what
callers see of a task.

A task is a Redis hash ``P:{q}:t:<id>``; its ``msg`` field is the message's JSON, written
once at enqueue and never changed::

    {"id": "...", "enqueued_at": 1767225600.0, "payload": {...}, "type": "task:x",
     "queue": "default", "max_retry": 25, "timeout": 1800.0, "deadline": null,
     "retention": 0.0, "retry_backoff": null, "idempotent": false,
     "isolation": "thread", "unique_key": "...", "source": "...",
     "headers": {"traceparent": "00-..."}}

(``unique_key``, ``source`` and ``headers`` only when set.) The mutable parts (``state``,
``retried``, ``error``, ``failed_at``, ``result``, ...) are separate hash fields so state
changes never rewrite the message. This module is the only place that knows the format:
the client and the scheduler encode through :class:`MessageTemplate`, the worker and the
inspector decode with :meth:`TaskMessage.decode`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, NamedTuple

from pydantic_core import from_json

from .errors import MalformedTask
from .options import MESSAGE_DEFAULTS
from .records.progress import TaskProgress

#: The option fields every message carries (``queue`` first), in their order, with their
#: defaults: the options of :data:`bingo_core.options.TABLE` marked ``message``.
OPTION_FIELDS: dict[str, Any] = MESSAGE_DEFAULTS
_D = MESSAGE_DEFAULTS
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
        fields: dict[str, Any] = {"type": task_type}
        for name, default in OPTION_FIELDS.items():
            value = options.get(name, default)
            fields[name] = None if callable(value) else value  # a function stays with the type
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
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """The message's JSON (``payload_json`` is the payload already encoded)."""
        extra = ""
        if unique_key:
            extra += ',"unique_key":' + json.dumps(unique_key)
        if source:
            extra += ',"source":' + json.dumps(source)
        if headers:
            extra += ',"headers":' + json.dumps(headers, separators=(",", ":"))
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
    max_retry: int = _D["max_retry"]
    timeout: float = _D["timeout"]
    deadline: float | None = _D["deadline"]
    retention: float = _D["retention"]
    retry_backoff: float | None = _D["retry_backoff"]
    idempotent: bool = _D["idempotent"]
    isolation: str = _D["isolation"]
    unique_key: str | None = None
    source: str | None = None
    enqueued_at: float = 0.0
    #: Headers carried with the task (the JSON's ``headers``, only when set; an Asynq
    #: task's message field 15).
    headers: Mapping[str, str] | None = None
    #: A workflow step's workflow id, and the ids of the steps it waited for, in order
    #: (the JSON's ``workflow`` and ``parents``, only on workflow steps).
    workflow: str | None = None
    parents: tuple[str, ...] = ()

    def encode(self) -> str:
        """The message's JSON."""
        options = {name: getattr(self, name) for name in OPTION_FIELDS}
        template = MessageTemplate(self.type, options)
        payload = json.dumps(self.payload, separators=(",", ":"))
        encoded = template.encode(
            self.id, self.enqueued_at, payload, self.unique_key or "", self.source, self.headers
        )
        if self.workflow is not None:
            encoded = with_workflow(encoded, self.workflow, self.parents)
        return encoded

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
                    get("headers"),
                    get("workflow"),
                    _ids(get("parents")),
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
        if (msg.workflow is not None and type(msg.workflow) is not str) or any(
            type(p) is not str for p in msg.parents
        ):
            raise MalformedTask("message field workflow or parents is not a string")
        if msg.headers is not None and not _string_map(msg.headers):
            raise MalformedTask("message field headers is not an object of strings")
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
            get("isolation") or _D["isolation"],
            get("unique_key"),
            get("source"),
            get("enqueued_at") or 0.0,
            get("headers"),
            get("workflow"),
            _ids(get("parents")),
        )


_new = tuple.__new__


def with_workflow(msg: str, workflow_id: str, parents: tuple[str, ...] | list[str]) -> str:
    """A message's JSON with a workflow step's ``workflow`` and ``parents`` added."""
    return msg[:-1] + workflow_tail(workflow_id, parents)


def workflow_tail(workflow_id: str, parents: tuple[str, ...] | list[str]) -> str:
    """What :func:`with_workflow` puts in place of a message's closing brace."""
    tail = json.dumps({"workflow": workflow_id, "parents": list(parents)}, separators=(",", ":"))
    return "," + tail[1:]


def _ids(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if type(value) is not list:
        raise MalformedTask("message field parents is not a list")
    return tuple(value)


_NUMBERS = (int, float)


def _string_map(value: Any) -> bool:
    return type(value) is dict and all(type(k) is str and type(v) is str for k, v in value.items())


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


@dataclass(frozen=True)
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
    #: When it runs: a scheduled task's due time, a retrying task's next attempt (read
    #: from the score of its id in the scheduled or retry set).
    process_at: float | None = None
    started_at: float | None = None
    failed_at: float | None = None
    completed_at: float | None = None
    idempotent: bool = False
    source: str | None = None
    worker: str | None = None
    #: The handler's return value while the completed task is retained (JSON data).
    result: Any = None
    #: How far the task is, as its handler last reported (``ctx.progress``), or None.
    progress: TaskProgress | None = None
    #: String headers carried with the task (``headers=``, the trace context; an Asynq
    #: task's message field 15), or None.
    headers: dict[str, str] | None = None
    #: The ids of the tasks it waits for (the ``depends_on`` option), and how many of
    #: them have not completed yet while it is ``waiting``.
    depends_on: tuple[str, ...] = ()
    deps_open: int = 0
    #: A batch task (``register(..., batch=...)``): how many items it holds, else 0.
    batch_items: int = 0
    #: The id of the workflow it is a step (or the on_failure step) of, or None.
    workflow: str | None = None
    #: Why a pending task is held back by its type's limits (which limit, type and key
    #: value), or None (``tasks show`` and the task page only; lists leave it None).
    held_by: str | None = None
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
            headers=dict(msg.headers) if msg.headers else None,
            workflow=msg.workflow,
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
        result: Any = None
        raw_result = data.get("result")
        if raw_result is not None:
            try:
                result = from_json(raw_result)
            except ValueError:
                result = _text(raw_result)
        depends_on = (
            tuple(_text(data.get("depends_on") or "").split(",")) if data.get("depends_on") else ()
        )
        deps_open = int(_num(data.get("deps_open")) or 0)
        if state == "waiting" and data.get("deps_open") is None:
            deps_open = len(depends_on)  # (a workflow step waiting for one task)
        return replace(
            info,
            error=_text(data["error"]) if data.get("error") else info.error,
            process_at=_num(data.get("process_at")),
            started_at=_num(data.get("started_at")),
            failed_at=_num(data.get("failed_at")),
            completed_at=_num(data.get("completed_at")),
            worker=_text(data["worker"]) if data.get("worker") else info.worker,
            result=result,
            progress=TaskProgress.decode(data.get("progress")),
            depends_on=depends_on,
            deps_open=deps_open,
            batch_items=int(_num(data.get("batch_items")) or 0),
            workflow=_text(data["wf"]) if data.get("wf") else info.workflow,
        )

    def to_dict(self) -> dict[str, Any]:
        """The info as JSON-ready data."""
        out = asdict(self)
        out.pop("extra")
        return out

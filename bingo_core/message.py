"""The task message stored in Redis, and :class:`TaskInfo`, what callers see of a task.

A task is a Redis hash ``P:{q}:t:<id>``; its ``msg`` field is this JSON object, written
once at enqueue and never changed::

    {"id": "...", "enqueued_at": 1767225600.0, "payload": {...}, "type": "task:x",
     "queue": "default", "retry": 25, "timeout": 1800.0, "deadline": null,
     "retention": 0.0, "unique_key": null, "backoff": null, "idempotent": false,
     "isolation": "thread", "source": null}

The mutable parts (``state``, ``retried``, ``error``, ``failed_at``, ...) are separate
hash fields so state changes never rewrite the message.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic_core import from_json

from .errors import MalformedTask

REQUIRED = ("id", "type", "queue", "payload", "retry")


def decode(raw: bytes | str) -> dict[str, Any]:
    """Decode a message, raising :class:`MalformedTask` with the reason."""
    try:
        msg = from_json(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedTask(f"message is not valid JSON: {exc}") from None
    if not isinstance(msg, dict):
        raise MalformedTask("message is not a JSON object")
    missing = [k for k in REQUIRED if k not in msg]
    if missing:
        raise MalformedTask(f"message lacks field(s) {', '.join(missing)}")
    if not isinstance(msg["type"], str) or not isinstance(msg["retry"], int):
        raise MalformedTask("message field type or retry has the wrong type")
    return msg


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _num(value: Any) -> float | None:
    if value in (None, b"", ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


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
    failed_at: float | None = None
    completed_at: float | None = None
    idempotent: bool = False
    source: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_message(cls, msg: dict[str, Any], state: str, retried: int = 0) -> TaskInfo:
        return cls(
            id=msg["id"],
            type=msg["type"],
            queue=msg["queue"],
            state=state,
            payload=msg.get("payload"),
            max_retry=int(msg.get("retry", 0)),
            retried=retried,
            timeout=float(msg.get("timeout") or 0),
            deadline=msg.get("deadline"),
            retention=float(msg.get("retention") or 0),
            unique_key=msg.get("unique_key"),
            enqueued_at=msg.get("enqueued_at"),
            idempotent=bool(msg.get("idempotent")),
            source=msg.get("source"),
        )

    @classmethod
    def from_hash(cls, queue: str, task_id: str, fields: dict[Any, Any]) -> TaskInfo:
        """Build from a task hash (``HGETALL``); a malformed message is shown, not raised."""
        data = {_text(k): v for k, v in fields.items()}
        state = _text(data.get("state", "unknown"))
        retried = int(_num(data.get("retried")) or 0)
        try:
            info = cls.from_message(decode(data.get("msg", b"")), state, retried)
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
        info.failed_at = _num(data.get("failed_at"))
        info.completed_at = _num(data.get("completed_at"))
        return info

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("extra")
        return out

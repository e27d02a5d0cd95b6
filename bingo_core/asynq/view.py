"""A task of Asynq's layout as Bingo's read side shows it (``tasks``, the dashboard)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from pydantic_core import from_json

from ..errors import MalformedTask
from ..message import TaskInfo
from .wire import AsynqMessage

#: Asynq's timeout when a message has neither a timeout nor a deadline (s).
DEFAULT_TIMEOUT = 1800.0


def task_info(queue: str, task_id: str, fields: Mapping[Any, Any]) -> TaskInfo:
    """The info of an Asynq task hash (``HGETALL``); a message that does not decode, or a
    hash without one, is shown with the reason, never raised."""
    data = {_text(k): v for k, v in fields.items()}
    state = _text(data.get("state", b"unknown"))
    raw = data.get("msg")
    if raw is None:
        return TaskInfo(task_id, "?", queue, state, error="malformed: the task hash has no msg")
    try:
        msg = AsynqMessage.decode(raw)
    except MalformedTask as exc:
        return TaskInfo(task_id, "?", queue, state, error=f"malformed: {exc}")
    since = data.get("pending_since")
    timeout = float(msg.timeout) if msg.timeout else 0.0
    if not msg.timeout and not msg.deadline:
        timeout = DEFAULT_TIMEOUT
    result = data.get("result")
    return TaskInfo(
        id=msg.id or task_id,
        type=msg.type,
        queue=queue,
        state=state,
        payload=payload_view(msg.payload),
        max_retry=msg.retry,
        retried=msg.retried,
        error=msg.error_msg,
        timeout=timeout,
        deadline=float(msg.deadline) if msg.deadline else None,
        retention=float(msg.retention),
        unique_key=msg.unique_key or None,
        enqueued_at=int(since) / 1e9 if since else None,
        failed_at=float(msg.last_failed_at) if msg.last_failed_at else None,
        completed_at=float(msg.completed_at) if msg.completed_at else None,
        result=payload_view(result) if result is not None else None,
        headers=dict(msg.headers) or None,
    )


def payload_view(value: bytes) -> Any:
    """Payload (or result) bytes as JSON data; bytes that are not JSON as text, or as
    ``{"base64": ...}`` when they are not UTF-8 either."""
    if not value:
        return None
    try:
        return from_json(value)
    except ValueError:
        pass
    try:
        return value.decode()
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(value).decode()}


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)

"""Batches (Asynq's aggregation): tasks of a type enqueued one by one, held per value of a
payload field, and run as one task whose handler gets the list of their payloads.

``register(type, handler, payload=Model, batch=bingo.Batch(key="field", max_size=100,
max_wait="10m", grace="1m"))``. A batch is cut when ``max_size`` items are held (at the
enqueue that reaches it), when ``grace`` passed since the newest item or when
``max_wait`` passed since the oldest, whichever comes first. The cut is one Lua call
(``broker/lua/_batch.lua``): the items leave the held list and become one pending task in
the same script, so each item is in exactly one batch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import from_json

from .broker.scripts import BatchAdd
from .durations import parse_duration
from .errors import PayloadError, RegistrationError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .message import MessageTemplate

#: Separates the type from the key value in a batch group's name (as in ``limits.py``).
GROUP_SEP = "\x1f"
#: The options a batch type cannot have (its tasks are held, not enqueued one by one).
REFUSED_TYPE_OPTIONS = ("unique", "concurrency_limit", "rate_limit", "limit_key", "depends_on")
#: The options an enqueue of a batch item cannot have.
REFUSED_CALL_OPTIONS = ("unique", "depends_on", "process_at", "process_in")


@dataclass(frozen=True)
class Batch:
    """How a task type's items are batched (``register(..., batch=Batch(...))``).

    ``key``: the payload field whose value groups items (None: one batch stream for the
    type); ``max_size``: the most items in one batch; ``max_wait``: the longest an item
    waits (a duration: ``"10m"`` or seconds); ``grace``: a batch is cut this long after
    its newest item (None: only ``max_wait`` and ``max_size`` cut).
    """

    key: str | None = None
    max_size: int = 100
    max_wait: str | float = "10m"
    grace: str | float | None = "1m"


@dataclass(frozen=True)
class BatchRule:
    """A checked :class:`Batch`: its durations in seconds (``grace`` 0: none)."""

    key: str | None
    max_size: int
    max_wait: float
    grace: float

    def key_value(self, payload_json: str) -> str:
        """The value of an item's key field as text ("" without a key): a string as it
        is, anything else as JSON."""
        if self.key is None:
            return ""
        data = from_json(payload_json)
        value = data.get(self.key) if isinstance(data, dict) else None
        return value if isinstance(value, str) else json.dumps(value)


def check(batch: Any, plugin: str, name: str, model: Any, options: Mapping[str, Any]) -> BatchRule:
    """The checked rule of ``batch`` for task type ``name``; raises
    :class:`RegistrationError` (one line naming the plugin and the type)."""
    where = f"plugin {plugin!r}, task type {name!r}: batch"
    if not isinstance(batch, Batch):
        raise RegistrationError(f"{where} must be a bingo.Batch(...), got {type(batch).__name__}")
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise RegistrationError(f"{where} needs a payload model (payload=Model)")
    if batch.key is not None and batch.key not in model.model_fields:
        raise RegistrationError(
            f"{where}: key {batch.key!r} names no field of {model.__name__} "
            f"(fields: {', '.join(model.model_fields) or 'none'})"
        )
    size = batch.max_size
    if isinstance(size, bool) or not isinstance(size, int) or size < 1 or size > 100_000:
        raise RegistrationError(f"{where}: max_size must be a whole number 1..100000, got {size!r}")
    try:
        wait = parse_duration(batch.max_wait)
        grace = 0.0 if batch.grace is None else parse_duration(batch.grace)
    except ValueError as exc:
        raise RegistrationError(f"{where}: {exc}") from None
    if wait <= 0:
        raise RegistrationError(f"{where}: max_wait must be above zero, got {batch.max_wait!r}")
    for option in REFUSED_TYPE_OPTIONS:
        if options.get(option):
            raise RegistrationError(f"{where}: a batch type cannot have the option {option}")
    if options.get("isolation") == "process":
        raise RegistrationError(f"{where}: a batch type cannot run with isolation='process'")
    return BatchRule(batch.key, size, wait, grace)


def refuse_options(name: str, given: Mapping[str, Any]) -> str | None:
    """The one-line refusal of an enqueue option a batch item cannot have, or None."""
    for option in REFUSED_CALL_OPTIONS:
        if given.get(option):
            return f"task {name!r}: option {option}: the type is batched, its items are held"
    return None


_adapters: dict[type[BaseModel], TypeAdapter[list[Any]]] = {}


def validate_items(name: str, model: type[BaseModel], data: Any) -> list[Any]:
    """A batch task's payload (the JSON list of its items) as a list of ``model``;
    raises :class:`PayloadError`."""
    adapter = _adapters.get(model)
    if adapter is None:
        adapter = _adapters[model] = TypeAdapter(list[model])  # type: ignore[valid-type]
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "payload"
        raise PayloadError(
            f"batch payload for {name} does not match list[{model.__name__}]: "
            f"{where}: {first['msg']}"
        ) from None


def item(
    rule: BatchRule,
    message: MessageTemplate,
    payload_json: str,
    headers: Mapping[str, str] | None,
) -> BatchAdd:
    """What ``batch_add.lua`` holds of one item of the batched type of ``message``."""
    key_value = rule.key_value(payload_json)
    tail = message.tail
    if headers:
        tail += ',"headers":' + json.dumps(headers, separators=(",", ":"))
    return BatchAdd(
        message.type + GROUP_SEP + key_value,
        message.type,
        key_value,
        payload_json,
        tail,
        rule.max_size,
        rule.max_wait,
        rule.grace,
    )

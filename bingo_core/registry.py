"""Task types and static schedule entries, and the ``register`` objects plugins call."""

from __future__ import annotations

import inspect
import json
import reprlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticSerializationError, to_json

from . import options as opts
from .batches import Batch, BatchRule
from .batches import check as check_batch
from .errors import (
    PayloadError,
    RegistrationError,
    TaskTypeConflict,
    UnknownTaskType,
    UsageError,
)
from .limits import KEY_SEP
from .workflow import Chain, Flow, Group, Step, flow_data

Handler = Callable[..., Any]
#: What a middleware's ``call_next`` is: runs the rest of the chain and the handler.
CallNext = Callable[[], Awaitable[Any]]
#: ``async def middleware(ctx, payload, call_next) -> result``.
MiddlewareFunction = Callable[[Any, Any, CallNext], Awaitable[Any]]


def describe_validation_error(exc: ValidationError) -> str:
    """One readable line for a pydantic error: ``date: Input should be ... (got 5)``."""
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) if str(p).isprintable() else repr(str(p)) for p in err["loc"])
        loc = loc or "payload"
        got = err.get("input")
        shown = "" if err["type"] == "missing" else f" (got {_shown(got)})"
        parts.append(f"{loc}: {err['msg']}{shown}")
    return "; ".join(parts)


_repr = reprlib.Repr()
_repr.maxlevel, _repr.maxstring, _repr.maxother = 3, 60, 60


def _shown(value: Any) -> str:
    """A short JSON rendering of a bad input (bounded for deep or cyclic values)."""
    try:
        text = json.dumps(value, default=str)
    except (ValueError, TypeError, RecursionError):
        text = _repr.repr(value)
    return text[:80]


def _refuse_constant(name: str) -> Any:
    raise ValueError(name)


def _strict_json(text: str) -> bool:
    """Whether ``text`` is JSON without the NaN/Infinity extensions."""
    try:
        json.loads(text, parse_constant=_refuse_constant)
    except ValueError:
        return False
    return True


@dataclass(eq=False)
class TaskType:
    """A registered task type: its handler, payload model and default options."""

    name: str
    handler: Handler
    payload_model: type[BaseModel] | None
    options: dict[str, Any]
    plugin: str
    is_async: bool
    description: str = ""
    #: The payload is raw bytes, not JSON (``register(..., payload=bytes)``): such a type
    #: travels only in a queue of ``asynq.queues``, whose messages carry bytes.
    raw: bool = False
    #: How its tasks are batched (``register(..., batch=Batch(...))``), or None.
    batch: BatchRule | None = None

    def option(self, name: str) -> Any:
        """The task type's default for option ``name`` (falling back to Bingo's default)."""
        return self.options.get(name, opts.DEFAULTS[name])

    def validate_payload(self, data: Any) -> Any:
        """Validate ``data`` against the payload model; return the model instance (or dict,
        or the bytes of a raw type)."""
        if self.raw:
            if data is None:
                return b""
            if not isinstance(data, bytes | bytearray):
                raise PayloadError(
                    f"payload for {self.name}: expected bytes (the type takes raw bytes), "
                    f"got {type(data).__name__}"
                )
            return bytes(data)
        model = self.payload_model
        if model is None:
            if data is None:
                return {}
            if not isinstance(data, dict):
                raise PayloadError(
                    f"payload for {self.name}: expected a JSON object, got {type(data).__name__}"
                )
            return data
        if isinstance(data, model):
            return data
        try:
            if isinstance(data, str | bytes):
                return model.model_validate_json(data)
            return model.model_validate({} if data is None else data)
        except ValidationError as exc:
            raise PayloadError(
                f"payload for {self.name} does not match {model.__name__}: "
                f"{describe_validation_error(exc)}"
            ) from None
        except RecursionError:
            raise PayloadError(f"payload for {self.name} is nested too deeply") from None

    def payload_bytes(self, value: Any) -> bytes:
        """The bytes of a validated payload in an Asynq message: a raw type's own, else
        its JSON."""
        return bytes(value) if self.raw else self.dump_payload(value).encode()

    def dump_payload(self, value: Any) -> str:
        """Serialize a validated payload to the JSON text stored in the message."""
        if self.raw:
            raise PayloadError(
                f"payload for {self.name} is raw bytes, which only a queue of asynq.queues carries"
            )
        try:
            if isinstance(value, BaseModel):
                text = value.model_dump_json()
                # An inf or nan float is written as null: refuse it unless the model takes
                # the JSON back (a substring test keeps the common path cheap).
                if "null" in text:
                    try:
                        type(value).model_validate_json(text)
                    except ValidationError as exc:
                        raise PayloadError(
                            f"payload for {self.name} does not survive JSON (an inf or nan "
                            f"number?): {describe_validation_error(exc)}"
                        ) from None
                return text
            text = to_json(value).decode()
        except (PydanticSerializationError, ValueError, RecursionError) as exc:
            if isinstance(exc, PayloadError):
                raise
            raise PayloadError(f"payload for {self.name} is not JSON-serializable: {exc}") from None
        if ("NaN" in text or "Infinity" in text) and not _strict_json(text):
            raise PayloadError(f"payload for {self.name} holds an inf or nan number (not JSON)")
        return text

    def json_schema(self) -> dict[str, Any]:
        """The payload's JSON schema (an open object when the type has no model)."""
        if self.raw:
            return {"type": "string", "contentMediaType": "application/octet-stream"}
        if self.payload_model is None:
            return {"type": "object"}
        return self.payload_model.model_json_schema()


# -- schedule entry keys: ``<source>|<name>``, built and read only here -------------------

#: Source of the YAML ``schedules:`` entries.
CONFIG_SOURCE = "config"
#: The ``type`` of an entry that starts a workflow (its default name: ``workflow@SPEC``).
WORKFLOW_TYPE = "workflow"
#: Source of a ``sys_crontab`` row not inserted yet (``cron add`` checks it).
NEW_ROW_SOURCE = "sys_crontab"
#: What :func:`source_kind` gives for each kind of source.
SOURCE_KINDS = ("plugin", "config", "db")


def plugin_source(plugin: str) -> str:
    """The source of the entries plugin ``plugin`` registers: ``plugin:<name>``."""
    return f"plugin:{plugin}"


def row_source(row_id: int | None) -> str:
    """The source of ``sys_crontab`` row ``row_id``: ``db:<id>`` (None: a row not
    inserted yet)."""
    return NEW_ROW_SOURCE if row_id is None else f"db:{row_id}"


def entry_key(source: str, name: str) -> str:
    """An entry's identity across restarts and daemons: ``<source>|<name>``."""
    return f"{source}|{name}"


def row_key(row_id: int, name: str) -> str:
    """The key of the entry ``sys_crontab`` row ``row_id`` named ``name`` runs as."""
    return entry_key(row_source(row_id), name)


def key_source(key: str) -> str:
    """The source part of an entry key (``plugin:demo`` of ``plugin:demo|nightly``)."""
    return key.split("|", 1)[0]


def source_kind(source_or_key: str) -> str:
    """``plugin``, ``config`` or ``db``: the kind of an entry's source (or key)."""
    return key_source(source_or_key).split(":", 1)[0]


def row_id_of(key: str) -> int | None:
    """The ``sys_crontab`` row id of a ``db:<id>|...`` key (also ``db:<id>`` alone), else
    None."""
    source = key_source(key)
    number = source[3:] if source.startswith("db:") else ""
    return int(number) if number.isdigit() and number.isascii() else None


@dataclass(eq=False)
class ScheduleEntry:
    """A static schedule: a cron spec that enqueues ``type`` with ``payload``, or, when
    ``flow`` is set, starts that workflow (``type`` is then :data:`WORKFLOW_TYPE`)."""

    spec: str
    type: str
    payload: dict[str, Any]
    options: dict[str, Any]
    source: str  # plugin_source(name), CONFIG_SOURCE or row_source(row id)
    name: str = ""
    flow: Flow | None = None
    #: The step enqueued once when a workflow this entry started fails (``flow`` only).
    on_failure: Step | None = None

    def __post_init__(self) -> None:
        if not self.name:
            self.name = f"{self.type}@{self.spec}"

    @property
    def key(self) -> str:
        """Stable identity of the entry across restarts and daemons."""
        return entry_key(self.source, self.name)

    def fingerprint(self) -> str:
        """Hash input of everything that changes when the entry is edited."""
        body = {k: v for k, v in self.options.items() if not callable(v)}
        parts: list[Any] = [self.spec, self.type, self.payload, body]
        if self.flow is not None:
            parts.append(flow_data(self.flow))
            parts.append(None if self.on_failure is None else flow_data(self.on_failure))
        return json.dumps(parts, sort_keys=True, default=str)


@dataclass(frozen=True)
class Middleware:
    """A registered middleware: wraps every handler call (see ``bingo_register_middleware``)."""

    name: str
    function: MiddlewareFunction
    plugin: str


@dataclass
class Registry:
    """Everything the plugins registered: task types, schedules, settings models and
    middleware (in registration order: the first is the outermost)."""

    tasks: dict[str, TaskType] = field(default_factory=dict)
    schedules: list[ScheduleEntry] = field(default_factory=list)
    settings_models: dict[str, type[BaseModel]] = field(default_factory=dict)
    middleware: list[Middleware] = field(default_factory=list)
    #: Task types registered by more than one plugin -> those plugins (each left out).
    conflicts: dict[str, list[str]] = field(default_factory=dict)

    def get(self, name: str) -> TaskType:
        """The task type ``name``; raises :class:`UnknownTaskType` (its subclass
        :class:`TaskTypeConflict` when plugins fought over it)."""
        try:
            return self.tasks[name]
        except KeyError:
            if name in self.conflicts:
                raise TaskTypeConflict(name, self.conflicts[name]) from None
            raise UnknownTaskType(name) from None

    def drop_plugin(self, plugin: str) -> None:
        """Forget everything ``plugin`` registered (a plugin that failed)."""
        self.tasks = {n: t for n, t in self.tasks.items() if t.plugin != plugin}
        self.schedules = [s for s in self.schedules if s.source != plugin_source(plugin)]
        self.settings_models.pop(plugin, None)
        self.middleware = [m for m in self.middleware if m.plugin != plugin]


class TaskRegister:
    """Passed to ``bingo_register_tasks``: ``register(name, handler, *, payload=Model, **opts)``."""

    def __init__(self, registry: Registry, plugin: str) -> None:
        self._registry = registry
        self.plugin = plugin
        self.added: list[str] = []

    def __call__(
        self,
        name: str,
        handler: Handler,
        *,
        payload: type[BaseModel] | type[bytes] | None = None,
        description: str = "",
        batch: Batch | None = None,
        **options: Any,
    ) -> None:
        where = f"plugin {self.plugin!r}, task type {name!r}"
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise RegistrationError(
                f"plugin {self.plugin!r}: task type name must be a non-empty string"
            )
        if not callable(handler):
            raise RegistrationError(f"{where}: handler {handler!r} is not callable")
        raw = payload is bytes
        if (
            payload is not None
            and not raw
            and not (isinstance(payload, type) and issubclass(payload, BaseModel))
        ):
            raise RegistrationError(
                f"{where}: payload must be a pydantic BaseModel subclass (or bytes)"
            )
        existing = self._registry.tasks.get(name)
        if existing is not None and existing.plugin == self.plugin:
            raise RegistrationError(f"{where}: registered twice by the same plugin")
        if existing is not None or name in self._registry.conflicts:
            # Every plugin that registers it fails (the manager drops the others too).
            held = self._registry.conflicts.get(name) or ([existing.plugin] if existing else [])
            raise TaskTypeConflict(name, [*held, self.plugin])
        try:
            normalized = opts.normalize(options, where=where, place=opts.TYPE)
        except UsageError as exc:
            raise RegistrationError(str(exc)) from None
        _check_limits(where, name, None if raw else payload, normalized)  # type: ignore[arg-type]
        rule = None if batch is None else check_batch(batch, self.plugin, name, payload, normalized)
        is_async = _is_async(handler)
        if is_async and normalized.get("isolation") == "process":
            raise RegistrationError(f"{where}: isolation='process' needs a plain def handler")
        self._registry.tasks[name] = TaskType(
            name=name,
            handler=handler,
            payload_model=None if raw else payload,  # type: ignore[arg-type]
            options=normalized,
            plugin=self.plugin,
            is_async=is_async,
            description=description or (inspect.getdoc(handler) or "").split("\n")[0],
            raw=raw,
            batch=rule,
        )
        self.added.append(name)


class ScheduleRegister:
    """Passed to ``bingo_register_schedules``: ``register(spec, type, *, payload=dict, **opts)``,
    or ``register(spec, flow, *, name="", on_failure=None, misfire_grace=..., timezone=...)``
    with a ``bingo.step``/``chain``/``group`` item: each tick starts that workflow.

    Entries are collected here and validated (spec, type, payload) once every plugin
    has registered its task types; see :func:`bingo_core.scheduler.entries.validate_entries`.
    """

    def __init__(self, registry: Registry, plugin: str, settings: Any = None) -> None:
        self._registry = registry
        self.plugin = plugin
        #: The plugin's validated settings (its model, filled from the config's
        #: ``plugins.<name>`` section), so a plugin can choose its schedules from them;
        #: None when it declares no model.
        self.settings = settings

    def __call__(
        self,
        spec: str,
        type: str | Flow,
        *,
        payload: Mapping[str, Any] | None = None,
        name: str = "",
        **options: Any,
    ) -> None:
        if isinstance(type, Step | Chain | Group):
            self._workflow(spec, type, payload, name, options)
            return
        where = f"plugin {self.plugin!r}, schedule {name or spec!r} -> {type!r}"
        if not isinstance(spec, str) or not spec.strip():
            raise RegistrationError(f"{where}: the cron spec must be a non-empty string")
        if not isinstance(type, str) or not type:
            raise RegistrationError(f"{where}: the task type must be a non-empty string")
        if payload is not None and not isinstance(payload, Mapping):
            raise RegistrationError(f"{where}: payload must be a dict")
        try:
            normalized = opts.normalize(options, where=where, place=opts.SCHEDULE)
        except UsageError as exc:
            raise RegistrationError(str(exc)) from None
        self._registry.schedules.append(
            ScheduleEntry(
                spec=spec.strip(),
                type=type,
                payload=dict(payload or {}),
                options=normalized,
                source=plugin_source(self.plugin),
                name=name,
            )
        )

    def _workflow(
        self,
        spec: str,
        flow: Flow,
        payload: Mapping[str, Any] | None,
        name: str,
        options: Mapping[str, Any],
    ) -> None:
        """An entry whose ticks start ``flow`` (checked step by step at compile time)."""
        where = f"plugin {self.plugin!r}, schedule {name or spec!r} -> {WORKFLOW_TYPE}"
        if not isinstance(spec, str) or not spec.strip():
            raise RegistrationError(f"{where}: the cron spec must be a non-empty string")
        if payload is not None:
            raise RegistrationError(f"{where}: payload goes on the workflow's steps")
        options = dict(options)
        on_failure = options.pop("on_failure", None)
        if on_failure is not None and not isinstance(on_failure, Step):
            raise RegistrationError(f"{where}: on_failure: expected bingo.step, got {on_failure!r}")
        refused = sorted(set(options) - opts.SCHEDULE_OPTIONS)
        if refused:
            raise RegistrationError(
                f"{where}: task option(s) {', '.join(refused)} go on the workflow's steps "
                f"(an entry that starts a workflow takes only {_schedule_only()})"
            )
        try:
            normalized = opts.normalize(options, where=where, place=opts.SCHEDULE)
        except UsageError as exc:
            raise RegistrationError(str(exc)) from None
        self._registry.schedules.append(
            ScheduleEntry(
                spec=spec.strip(),
                type=WORKFLOW_TYPE,
                payload={},
                options=normalized,
                source=plugin_source(self.plugin),
                name=name,
                flow=flow,
                on_failure=on_failure,
            )
        )


def _schedule_only() -> str:
    return ", ".join(sorted(opts.SCHEDULE_OPTIONS - {"name"}))


class SettingsRegister:
    """Passed to ``bingo_register_settings``: ``register(Model)`` validates ``plugins.<name>``."""

    def __init__(self, registry: Registry, plugin: str) -> None:
        self._registry = registry
        self.plugin = plugin

    def __call__(self, model: type[BaseModel], *, name: str | None = None) -> None:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise RegistrationError(
                f"plugin {self.plugin!r}: settings model must be a pydantic BaseModel subclass"
            )
        self._registry.settings_models[name or self.plugin] = model


def _check_limits(
    where: str, name: str, payload: type[BaseModel] | None, options: Mapping[str, Any]
) -> None:
    """Refuse a ``limit_key`` with no limit, or naming no field of the payload model."""
    limited = options.get("rate_limit") or options.get("concurrency_limit")
    if limited and KEY_SEP in name:
        raise RegistrationError(f"{where}: a limited task type's name must not hold \\x1f")
    key = options.get("limit_key")
    if key is None:
        return
    if not limited:
        raise RegistrationError(f"{where}: limit_key={key!r} needs rate_limit or concurrency_limit")
    if payload is None:
        raise RegistrationError(f"{where}: limit_key={key!r} needs a payload model")
    if key not in payload.model_fields:
        fields = ", ".join(payload.model_fields) or "none"
        raise RegistrationError(
            f"{where}: limit_key={key!r} names no field of {payload.__name__} "
            f"(its fields: {fields})"
        )


def _is_async(function: Any) -> bool:
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
        getattr(function, "__call__", None)  # noqa: B004 - async callable objects
    )


class MiddlewareRegister:
    """Passed to ``bingo_register_middleware``: ``register(middleware, *, name="")``.

    ``middleware(ctx, payload, call_next)`` must be an ``async def`` (or an object with
    an ``async def __call__``); it wraps every handler call of the worker.
    """

    def __init__(self, registry: Registry, plugin: str) -> None:
        self._registry = registry
        self.plugin = plugin

    def __call__(self, middleware: MiddlewareFunction, *, name: str = "") -> None:
        shown = name or getattr(middleware, "__qualname__", "") or repr(middleware)
        where = f"plugin {self.plugin!r}, middleware {shown!r}"
        if not callable(middleware) or not _is_async(middleware):
            raise RegistrationError(
                f"{where}: expected an async def function (ctx, payload, call_next)"
            )
        try:
            inspect.signature(middleware).bind(None, None, None)
        except TypeError:
            raise RegistrationError(
                f"{where}: it must take three arguments (ctx, payload, call_next)"
            ) from None
        except ValueError:  # no signature to read (a builtin): let it fail when called
            pass
        if any(m.name == shown and m.plugin == self.plugin for m in self._registry.middleware):
            raise RegistrationError(f"{where}: registered twice by the same plugin")
        self._registry.middleware.append(Middleware(shown, middleware, self.plugin))

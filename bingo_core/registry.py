"""Task types and static schedule entries, and the ``register`` objects plugins call."""

from __future__ import annotations

import inspect
import json
import reprlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticSerializationError, to_json

from . import options as opts
from .errors import PayloadError, RegistrationError, UnknownTaskType, UsageError

Handler = Callable[..., Any]


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

    def option(self, name: str) -> Any:
        """The task type's default for option ``name`` (falling back to Bingo's default)."""
        return self.options.get(name, opts.DEFAULTS[name])

    def validate_payload(self, data: Any) -> Any:
        """Validate ``data`` against the payload model; return the model instance (or dict)."""
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

    def dump_payload(self, value: Any) -> str:
        """Serialize a validated payload to the JSON text stored in the message."""
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
        if self.payload_model is None:
            return {"type": "object"}
        return self.payload_model.model_json_schema()


@dataclass(eq=False)
class ScheduleEntry:
    """A static schedule: a cron spec that enqueues ``type`` with ``payload``."""

    spec: str
    type: str
    payload: dict[str, Any]
    options: dict[str, Any]
    source: str  # "plugin:<name>", "config" or "db:<row id>"
    name: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            self.name = f"{self.type}@{self.spec}"

    @property
    def key(self) -> str:
        """Stable identity of the entry across restarts and daemons."""
        return f"{self.source}|{self.name}"

    def fingerprint(self) -> str:
        """Hash input of everything that changes when the entry is edited."""
        body = {k: v for k, v in self.options.items() if not callable(v)}
        return json.dumps([self.spec, self.type, self.payload, body], sort_keys=True, default=str)


@dataclass
class Registry:
    """Everything the plugins registered: task types, schedules and settings models."""

    tasks: dict[str, TaskType] = field(default_factory=dict)
    schedules: list[ScheduleEntry] = field(default_factory=list)
    settings_models: dict[str, type[BaseModel]] = field(default_factory=dict)

    def get(self, name: str) -> TaskType:
        """The task type ``name``; raises :class:`UnknownTaskType`."""
        try:
            return self.tasks[name]
        except KeyError:
            raise UnknownTaskType(name) from None


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
        payload: type[BaseModel] | None = None,
        description: str = "",
        **options: Any,
    ) -> None:
        where = f"plugin {self.plugin!r}, task type {name!r}"
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise RegistrationError(
                f"plugin {self.plugin!r}: task type name must be a non-empty string"
            )
        if not callable(handler):
            raise RegistrationError(f"{where}: handler {handler!r} is not callable")
        if payload is not None and not (
            isinstance(payload, type) and issubclass(payload, BaseModel)
        ):
            raise RegistrationError(f"{where}: payload must be a pydantic BaseModel subclass")
        existing = self._registry.tasks.get(name)
        if existing is not None:
            raise RegistrationError(
                f"task type {name!r} is registered by both plugin {existing.plugin!r} "
                f"and plugin {self.plugin!r}"
            )
        try:
            normalized = opts.normalize(options, where=where, per_task=False)
        except UsageError as exc:
            raise RegistrationError(str(exc)) from None
        is_async = inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
            getattr(handler, "__call__", None)  # noqa: B004 - async callable objects
        )
        if is_async and normalized.get("isolation") == "process":
            raise RegistrationError(f"{where}: isolation='process' needs a plain def handler")
        self._registry.tasks[name] = TaskType(
            name=name,
            handler=handler,
            payload_model=payload,
            options=normalized,
            plugin=self.plugin,
            is_async=is_async,
            description=description or (inspect.getdoc(handler) or "").split("\n")[0],
        )
        self.added.append(name)


class ScheduleRegister:
    """Passed to ``bingo_register_schedules``: ``register(spec, type, *, payload=dict, **opts)``.

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
        type: str,
        *,
        payload: Mapping[str, Any] | None = None,
        name: str = "",
        **options: Any,
    ) -> None:
        where = f"plugin {self.plugin!r}, schedule {name or spec!r} -> {type!r}"
        if not isinstance(spec, str) or not spec.strip():
            raise RegistrationError(f"{where}: the cron spec must be a non-empty string")
        if not isinstance(type, str) or not type:
            raise RegistrationError(f"{where}: the task type must be a non-empty string")
        if payload is not None and not isinstance(payload, Mapping):
            raise RegistrationError(f"{where}: payload must be a dict")
        try:
            normalized = opts.normalize(options, where=where, schedule=True)
        except UsageError as exc:
            raise RegistrationError(str(exc)) from None
        self._registry.schedules.append(
            ScheduleEntry(
                spec=spec.strip(),
                type=type,
                payload=dict(payload or {}),
                options=normalized,
                source=f"plugin:{self.plugin}",
                name=name,
            )
        )


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

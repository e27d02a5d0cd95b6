"""Static schedule entries (plugins, the YAML ``schedules:`` list) and their compilation.

An entry is compiled once: its spec parsed in its zone, its task type looked up, its
payload validated and dumped, its options merged over the type's defaults. The sync of
``sys_crontab`` compiles its rows with the same :func:`compile_entry`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import tzinfo
from typing import TYPE_CHECKING, Any

from .. import options as opts
from ..building import TaskBuilder
from ..errors import OptionError, UsageError
from ..registry import CONFIG_SOURCE, WORKFLOW_TYPE, Registry, ScheduleEntry, TaskType
from ..workflow import Flow, Step, first_step, flow_label
from .cron import CronSchedule, parse_spec
from .flows import check_flow, parse_workflow
from .zones import resolve_zone, zone_name

if TYPE_CHECKING:
    from ..config import Settings

__all__ = [
    "CompiledEntry",
    "compile_all",
    "compile_entry",
    "compile_static",
    "config_entries",
    "static_entries",
]

_ENTRY_KEYS = frozenset({"name", "spec", "type", "payload"})
_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


@dataclass(eq=False)
class CompiledEntry:
    """A validated entry, ready for the scheduler to fire."""

    entry: ScheduleEntry
    schedule: CronSchedule
    task_type: TaskType
    #: The validated payload as stored in each task's message.
    payload_json: str
    #: Task options for each enqueue: the type's defaults < the entry's options.
    options: dict[str, Any]
    #: Seconds a tick may be fired late; None means the scheduler's default.
    misfire_grace: float | None

    @property
    def key(self) -> str:
        """The entry's identity: ``<source>|<name>``."""
        return self.entry.key

    @property
    def flow(self) -> Flow | None:
        """The workflow each tick starts, or None (each tick enqueues one task)."""
        return self.entry.flow

    @property
    def on_failure(self) -> Step | None:
        """The step enqueued once when a workflow this entry started fails."""
        return self.entry.on_failure

    @property
    def label(self) -> str:
        """What the entry runs: its task type, or ``workflow: a -> group(b x3) -> c``."""
        flow = self.entry.flow
        return self.task_type.name if flow is None else flow_label(flow)

    def fingerprint(self) -> str:
        """Changes whenever the entry is edited (spec, type, payload or options)."""
        return self.entry.fingerprint()


def _where(entry: ScheduleEntry) -> str:
    return f"schedule {entry.name!r} ({entry.source})"


def _instant_zone(zone: Any) -> tzinfo | None:
    """The zone a time without an offset (a ``deadline``) is read in: the entry's, else
    the server's; None for a zone that does not exist (the spec's check names it)."""
    if isinstance(zone, tzinfo):
        return zone
    try:
        return resolve_zone(zone_name(zone)) if isinstance(zone, str) else None
    except ValueError:
        return None


def compile_entry(
    entry: ScheduleEntry,
    registry: Registry,
    default_tz: str | tzinfo | None,
    builder: TaskBuilder | None = None,
) -> CompiledEntry:
    """Validate ``entry`` against ``registry`` and compile it.

    ``default_tz`` is the zone of a spec without a ``CRON_TZ=`` prefix when the entry has
    no ``timezone`` option. ``builder`` checks the steps of an entry that starts a
    workflow (the client's: payload size, ``asynq.queues``); by default one of the
    registry alone. Raises a :class:`~bingo_core.errors.UsageError` subclass whose
    one line names the entry: ``schedule 'nightly' (config): unknown task type ...``.
    """
    where = _where(entry)
    zone = _instant_zone(entry.options.get("timezone") or default_tz)
    given = opts.normalize(entry.options, where=where, place=opts.SCHEDULE, zone=zone)
    try:
        schedule = parse_spec(entry.spec, given.get("timezone") or default_tz)
        if entry.flow is not None:
            return _compile_workflow(entry, schedule, registry, given, builder)
        task_type = registry.get(entry.type)
        payload_json = task_type.dump_payload(task_type.validate_payload(entry.payload))
        task_options = {k: v for k, v in given.items() if k not in opts.SCHEDULE_OPTIONS}
        options = {**task_type.options, **task_options}
        if options.get("isolation") == "process" and task_type.is_async:
            raise OptionError("option isolation='process' needs a plain def handler")
    except UsageError as exc:
        exc.args = (f"{where}: {exc}",)
        raise
    return CompiledEntry(
        entry=entry,
        schedule=schedule,
        task_type=task_type,
        payload_json=payload_json,
        options=options,
        misfire_grace=given.get("misfire_grace"),
    )


def _compile_workflow(
    entry: ScheduleEntry,
    schedule: CronSchedule,
    registry: Registry,
    given: dict[str, Any],
    builder: TaskBuilder | None,
) -> CompiledEntry:
    """An entry that starts a workflow: every step checked now, so that a bad step is one
    line naming the entry and the step's path. Its task type and options are the first
    step's (its queue is the workflow's)."""
    assert entry.flow is not None
    checked = check_flow(entry.flow, registry, builder, entry.on_failure)
    first = registry.get(first_step(entry.flow).type)
    return CompiledEntry(
        entry=entry,
        schedule=schedule,
        task_type=first,
        payload_json="",
        options={**first.options, "queue": checked.queue},
        misfire_grace=given.get("misfire_grace"),
    )


def compile_all(
    entries: Iterable[ScheduleEntry],
    registry: Registry,
    default_tz: str | tzinfo | None,
    builder: TaskBuilder | None = None,
) -> tuple[list[CompiledEntry], list[tuple[ScheduleEntry, str]]]:
    """Compile every entry: the good ones, and ``(entry, error line)`` for each bad one.

    One bad entry never stops the others. A second entry with the key of an earlier one
    is refused (two unnamed entries with the same type and spec, or a repeated name).
    """
    good: list[CompiledEntry] = []
    bad: list[tuple[ScheduleEntry, str]] = []
    seen: set[str] = set()
    for entry in entries:
        if entry.key in seen:
            bad.append((entry, f"{_where(entry)}: another entry of {entry.source} has this name"))
            continue
        try:
            compiled = compile_entry(entry, registry, default_tz, builder)
        except UsageError as exc:
            bad.append((entry, str(exc)))
            continue
        except Exception as exc:  # a bug in one entry must not stop the others
            bad.append((entry, f"{_where(entry)}: {type(exc).__name__}: {exc}"))
            continue
        seen.add(entry.key)
        good.append(compiled)
    return good, bad


def _snake(key: str) -> str:
    return _CAMEL.sub(lambda m: "_" + m.group(1).lower(), key)


def _config_entry(item: Any, default_tz: str | tzinfo | None) -> ScheduleEntry:
    if not isinstance(item, Mapping):
        raise UsageError(f"expected a mapping with spec and type, got {type(item).__name__}")
    data = {_snake(str(k)): v for k, v in item.items()}
    name = data.pop("name", "") or ""
    if not isinstance(name, str):
        raise UsageError(f"name: expected a string, got {name!r}")
    if "workflow" in data:
        return _config_workflow(data, name.strip(), default_tz)
    for key in ("spec", "type"):
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise UsageError(f"{key}: expected a non-empty string, got {value!r}")
    spec, task_type = data.pop("spec").strip(), data.pop("type").strip()
    payload = data.pop("payload", None)
    if payload is None:
        payload = {}
    if not isinstance(payload, Mapping):
        raise UsageError(f"payload: expected a mapping, got {type(payload).__name__}")
    try:
        zone = _instant_zone(data.get("timezone") or default_tz)
        options = opts.normalize(data, where="-", place=opts.SCHEDULE, zone=zone)
    except OptionError as exc:
        raise OptionError(str(exc).removeprefix("-: ")) from None
    return ScheduleEntry(
        spec=spec,
        type=task_type,
        payload=dict(payload),
        options=options,
        source=CONFIG_SOURCE,
        name=name.strip(),
    )


def _config_workflow(
    data: dict[str, Any], name: str, default_tz: str | tzinfo | None
) -> ScheduleEntry:
    """An item with ``workflow:`` (and ``spec``, optionally ``misfire_grace``/``timezone``)."""
    spec = data.pop("spec", None)
    if not isinstance(spec, str) or not spec.strip():
        raise UsageError(f"spec: expected a non-empty string, got {spec!r}")
    if data.pop("payload", None) or "type" in data:
        raise UsageError("give type and payload, or workflow (its steps have their own)")
    flow = parse_workflow(data.pop("workflow"))
    failure = data.pop("on_failure", None)
    on_failure = None if failure is None else parse_workflow(failure, "on_failure")
    if on_failure is not None and not isinstance(on_failure, Step):
        raise UsageError("on_failure: expected one step (type, payload, options)")
    task_options = sorted(set(data) - opts.SCHEDULE_OPTIONS)
    if task_options:
        raise UsageError(
            f"{', '.join(task_options)}: task options go on the workflow's steps (an entry "
            f"that starts a workflow takes on_failure, misfire_grace and timezone)"
        )
    try:
        zone = _instant_zone(data.get("timezone") or default_tz)
        options = opts.normalize(data, where="-", place=opts.SCHEDULE, zone=zone)
    except OptionError as exc:
        raise OptionError(str(exc).removeprefix("-: ")) from None
    return ScheduleEntry(
        spec=spec.strip(),
        type=WORKFLOW_TYPE,
        payload={},
        options=options,
        source=CONFIG_SOURCE,
        name=name,
        flow=flow,
        on_failure=on_failure,
    )


def config_entries(
    raw: Iterable[Any], default_tz: str | tzinfo | None = None
) -> tuple[list[ScheduleEntry], list[tuple[str, str]]]:
    """Build the entries of the YAML ``schedules:`` list (source ``config``); a time
    without an offset (a ``deadline``) is read in the item's ``timezone``, else in
    ``default_tz`` (``server.timezone``).

    Each item has ``spec``, ``type``, optionally ``name`` and ``payload``, plus task
    options and ``misfire_grace`` / ``timezone``, in snake_case or camelCase
    (``maxRetry``, ``misfireGrace``). Returns the entries and, for each bad item,
    ``(label, reason)``: the label is the item's name or ``schedules[<index>]``.
    Specs and task types are checked later, by :func:`compile_entry`.
    """
    entries: list[ScheduleEntry] = []
    errors: list[tuple[str, str]] = []
    names: dict[str, str] = {}
    for index, item in enumerate(raw):
        label = f"schedules[{index}]"
        if isinstance(item, Mapping) and isinstance(item.get("name"), str) and item["name"]:
            label = item["name"].strip()
        try:
            entry = _config_entry(item, default_tz)
        except UsageError as exc:
            errors.append((label, str(exc)))
            continue
        earlier = names.get(entry.key)
        if earlier is not None:
            errors.append((label, f"the same name as {earlier} (names must be unique)"))
            continue
        names[entry.key] = f"schedules[{index}]"
        entries.append(entry)
    return entries, errors


def static_entries(settings: Settings, registry: Registry) -> tuple[list[ScheduleEntry], list[str]]:
    """The plugins' entries and the config file's, with one error line per bad config entry."""
    entries, errors = config_entries(settings.schedules, settings.server.timezone)
    lines = [f"schedule {label!r} ({CONFIG_SOURCE}): {reason}" for label, reason in errors]
    return [*registry.schedules, *entries], lines


def compile_static(settings: Settings, registry: Registry) -> tuple[list[CompiledEntry], list[str]]:
    """Compile the static entries; return the good ones and one line per bad entry."""
    entries, errors = static_entries(settings, registry)
    zone = settings.server.timezone
    builder = TaskBuilder(
        registry, settings.client.max_payload_size, _instant_zone(zone), settings.asynq.queues
    )
    good, bad = compile_all(entries, registry, zone, builder)
    return good, [*errors, *(line for _, line in bad)]

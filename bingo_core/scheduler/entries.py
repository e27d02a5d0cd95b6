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
from typing import Any

from .. import options as opts
from ..errors import OptionError, UsageError
from ..registry import Registry, ScheduleEntry, TaskType
from .cron import CronSchedule, parse_spec

__all__ = ["CompiledEntry", "compile_all", "compile_entry", "config_entries"]

#: Task options a schedule cannot carry: each tick is a new task at its own time.
_NOT_ON_SCHEDULES = frozenset({"task_id", "process_at"})
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

    def fingerprint(self) -> str:
        """Changes whenever the entry is edited (spec, type, payload or options)."""
        return self.entry.fingerprint()


def _where(entry: ScheduleEntry) -> str:
    return f"schedule {entry.name!r} ({entry.source})"


def compile_entry(
    entry: ScheduleEntry, registry: Registry, default_tz: str | tzinfo | None
) -> CompiledEntry:
    """Validate ``entry`` against ``registry`` and compile it.

    ``default_tz`` is the zone of a spec without a ``CRON_TZ=`` prefix when the entry has
    no ``timezone`` option. Raises a :class:`~bingo_core.errors.UsageError` subclass whose
    one line names the entry: ``schedule 'nightly' (config): unknown task type ...``.
    """
    where = _where(entry)
    given = opts.normalize(entry.options, where=where, schedule=True)
    try:
        schedule = parse_spec(entry.spec, given.get("timezone") or default_tz)
        task_type = registry.get(entry.type)
        payload_json = task_type.dump_payload(task_type.validate_payload(entry.payload))
        refused = sorted(_NOT_ON_SCHEDULES & given.keys())
        if refused:
            raise OptionError(
                f"option {refused[0]!r} cannot be set on a schedule (each tick is a new task)"
            )
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


def compile_all(
    entries: Iterable[ScheduleEntry], registry: Registry, default_tz: str | tzinfo | None
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
            compiled = compile_entry(entry, registry, default_tz)
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


def _config_entry(item: Any) -> ScheduleEntry:
    if not isinstance(item, Mapping):
        raise UsageError(f"expected a mapping with spec and type, got {type(item).__name__}")
    data = {_snake(str(k)): v for k, v in item.items()}
    name = data.pop("name", "") or ""
    if not isinstance(name, str):
        raise UsageError(f"name: expected a string, got {name!r}")
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
        options = opts.normalize(data, where="-", schedule=True)
    except OptionError as exc:
        raise OptionError(str(exc).removeprefix("-: ")) from None
    return ScheduleEntry(
        spec=spec,
        type=task_type,
        payload=dict(payload),
        options=options,
        source="config",
        name=name.strip(),
    )


def config_entries(raw: Iterable[Any]) -> tuple[list[ScheduleEntry], list[tuple[str, str]]]:
    """Build the entries of the YAML ``schedules:`` list (source ``config``).

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
            entry = _config_entry(item)
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

"""The rules of a ``sys_crontab`` row, in one place: the sync, ``bingo-scheduler cron``
and the dashboard's rows page validate rows, and find the entry a key names, through here.

A row runs when it is enabled (``status`` :data:`ENABLED`) and valid: each column fits
the table (:func:`column_errors`), its payload is a JSON object (or empty), its spec
parses, its task type is registered and the payload passes the type's model
(:func:`compile_row`, the final word, which the sync runs on each enabled row).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import tzinfo
from typing import TYPE_CHECKING, Any

from ..errors import CronSpecError, EntryNotFound, PayloadError, UnknownTaskType, UsageError
from ..registry import Registry, ScheduleEntry, row_id_of, row_source
from ..store.models import DISABLED, ENABLED, LIMITS, MAX_ROW_ID, PAYLOAD_BYTES, TABLE
from .cron import parse_spec
from .entries import CompiledEntry, compile_entry, static_entries

if TYPE_CHECKING:
    from ..config import Settings
    from ..store import CrontabRow

__all__ = [
    "DISABLED",
    "ENABLED",
    "LIMITS",
    "MAX_ROW_ID",
    "PAYLOAD_BYTES",
    "check_row",
    "column_errors",
    "compile_row",
    "parse_payload",
    "parse_row_id",
    "payload_column",
    "resolve_entry",
    "status_of",
]


def status_of(enabled: bool) -> int:
    """The ``status`` column of an enabled or disabled row."""
    return ENABLED if enabled else DISABLED


def parse_row_id(text: str) -> int:
    """A row id: a whole number from 1 to 2**63-1; raises ``ValueError`` with one line."""
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"expected a row id (a whole number), got {text!r}") from None
    if not 1 <= value <= MAX_ROW_ID:
        raise ValueError(f"row id {text!r} is out of range (1 to 2**63-1)")
    return value


def parse_payload(text: str | None) -> dict[str, Any]:
    """The payload column as a dict: NULL, blank or JSON ``null`` is ``{}``, else an object."""
    if text is None or not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise PayloadError(f"payload is not valid JSON: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PayloadError(f"payload must be a JSON object, got {type(data).__name__}")
    return data


def payload_column(payload: Mapping[str, Any] | str | None) -> str | None:
    """What the payload column stores for a payload given as an object or as its text
    (blank text is NULL)."""
    if payload is None:
        return None
    if isinstance(payload, str):
        return payload if payload.strip() else None
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def column_errors(
    name: str,
    task_type: str,
    spec: str,
    payload: str | None,
    *,
    label: Callable[[str], str] = str,
) -> dict[str, str]:
    """Each column whose value the table cannot hold (empty, or too long), with one line;
    ``label`` names a column in that line (the CLI names its arguments: ``NAME``)."""
    errors: dict[str, str] = {}
    values = {"name": name, "type": task_type, "spec": spec}
    for column, limit in LIMITS.items():
        value = values[column]
        if not value.strip():
            errors[column] = f"{label(column)} must not be empty"
        elif len(value) > limit:
            errors[column] = (
                f"{label(column)} {value[:20]!r}... is {len(value)} characters; "
                f"{TABLE}.{column} holds at most {limit}"
            )
    size = len(payload.encode()) if payload else 0
    if size > PAYLOAD_BYTES:
        errors["payload"] = (
            f"{label('payload')} is {size} bytes of JSON; {TABLE}.payload holds at most "
            f"{PAYLOAD_BYTES}"
        )
    return errors


def compile_row(
    row_id: int | None,
    name: str,
    task_type: str,
    spec: str,
    payload: str | None,
    registry: Registry,
    default_tz: str | tzinfo | None,
) -> CompiledEntry:
    """Validate one row (payload JSON, spec, known type, payload model) and compile it.

    ``row_id`` None stands for a row not inserted yet (``cron add``). Raises a
    :class:`~bingo_core.errors.UsageError` subclass with one line naming the row:
    ``schedule 'nightly' (db:7): unknown task type ...``.
    """
    source = row_source(row_id)
    try:
        data = parse_payload(payload)
    except PayloadError as exc:
        raise PayloadError(f"schedule {name!r} ({source}): {exc}") from None
    entry = ScheduleEntry(
        spec=spec.strip(), type=task_type, payload=data, options={}, source=source, name=name
    )
    return compile_entry(entry, registry, default_tz)


def _field(exc: BaseException) -> str:
    if isinstance(exc, PayloadError):
        return "payload"
    if isinstance(exc, CronSpecError):
        return "spec"
    if isinstance(exc, UnknownTaskType):
        return "type"
    return "row"


def check_row(
    row_id: int | None,
    name: str,
    task_type: str,
    spec: str,
    payload: str | None,
    registry: Registry,
    default_tz: str | tzinfo | None,
) -> dict[str, str]:
    """Every problem of a row, one line by field (``name``, ``type``, ``spec``,
    ``payload``, or ``row``); empty when the sync would run it."""
    errors = column_errors(name, task_type, spec, payload)
    if "spec" not in errors:
        try:
            parse_spec(spec.strip(), default_tz)
        except CronSpecError as exc:
            errors["spec"] = str(exc)
    task = registry.tasks.get(task_type)
    if task is None and "type" not in errors:
        known = ", ".join(sorted(registry.tasks)) or "none"
        errors["type"] = str(UnknownTaskType(task_type, f"known: {known}"))
    if "payload" not in errors:
        try:
            data = parse_payload(payload)
            if task is not None:
                task.validate_payload(data)
        except PayloadError as exc:
            errors["payload"] = str(exc)
    if not errors:
        try:
            compile_row(row_id, name, task_type, spec, payload, registry, default_tz)
        except UsageError as exc:
            errors[_field(exc)] = str(exc)
        except Exception as exc:  # as the sync does: a bug in one row is that row's error
            errors["row"] = f"{type(exc).__name__}: {exc}"
    return errors


def resolve_entry(
    key: str,
    settings: Settings,
    registry: Registry,
    get_row: Callable[[int], CrontabRow | None],
) -> CompiledEntry:
    """The compiled entry ``key`` names, as this process sees it: a ``sys_crontab`` row
    (``db:<id>|<name>``, or ``db:<id>``; read with ``get_row``), or an entry of the
    plugins or the config file (its whole key). Raises :class:`EntryNotFound`, or the
    error that makes the entry invalid."""
    zone = settings.server.timezone
    row_id = row_id_of(key)
    if row_id is not None:
        row = get_row(row_id) if row_id <= MAX_ROW_ID else None
        if row is None:
            raise EntryNotFound(f"no sys_crontab row for entry {key!r}")
        return compile_row(row.id, row.name, row.type, row.spec, row.payload, registry, zone)
    entries, _ = static_entries(settings, registry)
    for entry in entries:
        if entry.key == key:
            return compile_entry(entry, registry, zone)
    raise EntryNotFound(f"no schedule entry {key!r} in this daemon's plugins or config")

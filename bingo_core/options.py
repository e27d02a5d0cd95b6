"""Task options: names, defaults and validation shared by registry, client, CLI and schedules."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from .durations import parse_duration
from .errors import OptionError

#: Option name -> default. ``timeout`` 0 means none; ``retention`` 0 deletes on completion.
DEFAULTS: dict[str, Any] = {
    "queue": "default",
    "max_retry": 25,
    "timeout": 1800.0,
    "deadline": None,
    "unique": None,
    "task_id": None,
    "process_at": None,
    "process_in": None,
    "retention": 0.0,
    "retry_backoff": None,
    "idempotent": False,
    "isolation": "thread",
}
OPTION_NAMES = frozenset(DEFAULTS)
#: Options that only make sense on one enqueue, never as a task type's default.
PER_TASK_ONLY = frozenset({"task_id", "process_at", "process_in"})
#: Options a schedule entry adds on top of the task options.
SCHEDULE_OPTIONS = frozenset({"misfire_grace", "name", "timezone"})

RetryBackoff = float | Callable[[int], float] | None


def _duration(name: str, value: Any, *, allow_zero: bool = True) -> float:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise OptionError(f"option {name}={value!r}: {exc}") from None
    if math.isnan(seconds) or math.isinf(seconds) or (not allow_zero and seconds == 0):
        raise OptionError(f"option {name}={value!r}: expected a positive duration")
    if seconds > MAX_DURATION:
        raise OptionError(f"option {name}={value!r}: expected at most 100 years")
    return seconds


#: The longest duration an option takes (100 years): Redis TTLs and dates hold it.
MAX_DURATION = 100 * 366 * 86400.0


def _instant(name: str, value: Any) -> float:
    """Accept a datetime, an ISO-8601 string (with offset) or epoch seconds; return epoch."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise OptionError(f"option {name}={value!r}: expected a finite epoch time")
        return float(value)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise OptionError(
                f"option {name}={value!r}: expected an ISO-8601 time such as "
                "2026-01-31T02:00:00+08:00"
            ) from None
    else:
        raise OptionError(f"option {name}={value!r}: expected a datetime or ISO-8601 string")
    try:
        if moment.tzinfo is None:
            moment = moment.astimezone()  # a naive time is read as the machine's local time
        return moment.timestamp()
    except (OverflowError, ValueError, OSError):
        raise OptionError(f"option {name}={value!r}: the time is out of range") from None


def normalize(
    options: Mapping[str, Any], *, where: str, per_task: bool = True, schedule: bool = False
) -> dict[str, Any]:
    """Validate option names and values; return them in canonical form.

    Durations become float seconds, instants become epoch seconds. ``where`` names the
    place the options came from (a plugin, a task type, the command line) in errors.
    """
    allowed = OPTION_NAMES | (SCHEDULE_OPTIONS if schedule else frozenset())
    out: dict[str, Any] = {}
    for name, value in options.items():
        if name not in allowed:
            known = ", ".join(sorted(allowed))
            raise OptionError(f"{where}: unknown option {name!r} (known: {known})")
        if not per_task and name in PER_TASK_ONLY:
            raise OptionError(f"{where}: option {name!r} is per task and cannot be a default")
        try:
            out[name] = _normalize_one(name, value)
        except OptionError as exc:
            raise OptionError(f"{where}: {exc}") from None
    if out.get("process_at") is not None and out.get("process_in") is not None:
        raise OptionError(f"{where}: give process_at or process_in, not both")
    return out


def _normalize_one(name: str, value: Any) -> Any:
    if value is None:
        if name in ("queue", "max_retry", "timeout", "retention", "idempotent", "isolation"):
            raise OptionError(f"option {name}=None: a value is required")
        return None
    if name in ("queue", "task_id", "name", "timezone"):
        if not isinstance(value, str) or not value or len(value) > 200:
            raise OptionError(f"option {name}={value!r}: expected a non-empty string")
        if name == "queue" and any(c in value for c in "{}: \t\n"):
            raise OptionError(f"option queue={value!r}: must not contain braces, colons or spaces")
        return value
    if name == "max_retry":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise OptionError(f"option max_retry={value!r}: expected a whole number >= 0")
        return value
    if name in ("timeout", "retention", "process_in", "misfire_grace"):
        return _duration(name, value)
    if name == "unique":
        return _duration(name, value, allow_zero=False)
    if name in ("deadline", "process_at"):
        return _instant(name, value)
    if name == "retry_backoff":
        if callable(value):
            return value
        return _duration(name, value)
    if name == "idempotent":
        if not isinstance(value, bool):
            raise OptionError(f"option idempotent={value!r}: expected true or false")
        return value
    if name == "isolation":
        if value not in ("thread", "process"):
            raise OptionError(f"option isolation={value!r}: expected 'thread' or 'process'")
        return value
    raise AssertionError(name)  # pragma: no cover - names are checked by normalize()

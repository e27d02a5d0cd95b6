"""Cron specs: parsing, time zones and the daylight-saving policy.

Accepted specs (see :func:`parse_spec`):

- five fields ``minute hour day-of-month month day-of-week``;
- six fields with a *leading* seconds field ``second minute hour dom month dow``;
- ``@yearly @annually @monthly @weekly @daily @midnight @hourly``;
- ``@every <duration>`` with a Go duration (``45s``, ``1h30m``); as in robfig/cron, parts
  below a second are dropped (``1.5s`` is ``1s``) and a positive interval under a second
  is ``1s``;
- any of the above behind a ``CRON_TZ=Zone`` (or ``TZ=Zone``) prefix naming its time zone.

Field syntax is croniter's: lists, ranges, steps (``5/15`` is ``5-59/15``), month and
weekday names in any case, ``L`` (last day of the month), ``5#2`` (the second Friday) and
``L5`` (the last Friday). A range must not run backwards: ``22-2`` is refused (write
``22-23,0-2``). When both day fields are restricted a day matches either of them; a day
field counts as unrestricted when any item of its list is ``*``, ``?`` or ``*/1``
(``0 0 *,15 * 1`` fires on Mondays only), as in Vixie cron and robfig/cron.

Daylight-saving policy (classic cron):

- a wall-clock time that does not exist (spring forward) fires once, at the first instant
  after the gap (America/New_York 02:30 on the spring-forward day fires at 03:00 EDT), for
  entries with a fixed hour; an entry whose hour field is ``*`` or a step fires at its
  next real hour instead (``30 * * * *`` fires 01:30 EST, then 03:30 EDT: one real hour);
- a wall-clock time that occurs twice (fall back) fires once, on its first occurrence, when
  the hour field is fixed (``30 1 * * *``); when the hour field is ``*``, holds a step
  (``*/2``, ``1-23/2``) or covers every hour, both occurrences fire, so the entry keeps
  firing every real hour;
- ``@every`` entries ignore wall time: their ticks are multiples of the interval since the
  Unix epoch, so every daemon computes the same ticks.

Fire times are computed on integer epoch seconds, walking the zone's offset changes (found
once per zone and year by probing :mod:`zoneinfo`), so the next fire time of an entry costs
a few microseconds.
"""

from __future__ import annotations

import functools
import math
import re
from datetime import datetime, tzinfo
from fractions import Fraction

from croniter import CroniterError, croniter

from ..durations import format_duration, parse_duration
from ..errors import CronSpecError
from .schedule import CronSchedule, Field
from .zones import resolve_zone, zone_name

__all__ = ["CronSchedule", "next_fire_times", "parse_spec", "resolve_zone"]

DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
#: (name, lowest, highest) of each field, seconds first.
_FIELDS = (
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)
_MONTH_NAMES = {
    name: i
    for i, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_DAY_NAMES = {name: i for i, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_PREFIX = re.compile(r"(?:CRON_TZ|TZ)=(\S*)\s*(.*)", re.DOTALL)
_STARS = ("*", "?")
#: Nanoseconds per unit of an ``@every`` duration (Go's units, plus ``d``).
_NANOS = {
    "ns": 1,
    "us": 10**3,
    "µs": 10**3,
    "ms": 10**6,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
    "d": 86400 * 10**9,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d)")


def _value(token: str, field: int) -> int:
    name, lo, hi = _FIELDS[field]
    if token.isascii() and token.isdigit():
        value = int(token)
        if not lo <= value <= hi:
            raise ValueError(f"{name} {value} is out of range {lo}-{hi}")
        return value
    names = _MONTH_NAMES if field == 4 else _DAY_NAMES if field == 5 else {}
    if token in names:
        return names[token]
    kind = "a number or a name" if names else "a number"
    raise ValueError(f"{name} {token!r} is not {kind}")


def _check_part(part: str, field: int) -> str:
    """Validate one comma-separated part of a field; return it normalised for croniter."""
    name = _FIELDS[field][0]
    if not part:
        raise ValueError(f"the {name} field has an empty list item")
    if field == 3 and part == "l":
        return part
    if field == 5 and "#" in part:
        day, _, week = part.partition("#")
        _value(day, field)
        if week not in ("1", "2", "3", "4", "5"):
            raise ValueError(f"day of week {part!r}: the week after '#' must be 1-5")
        return part
    if field == 5 and part.startswith("l") and part not in _DAY_NAMES:
        if part == "l":
            raise ValueError("day of week 'L' needs a weekday after it (L5: the last Friday)")
        return f"l{_value(part[1:], field)}"
    base, slash, step = part.partition("/")
    if slash and (not step.isascii() or not step.isdigit() or int(step) == 0):
        raise ValueError(f"{name} step {step!r} in {part!r} is not a whole number >= 1")
    if base in _STARS:
        if base == "?" and field not in (3, 5):
            raise ValueError(f"'?' is allowed in the day fields only, not in the {name} field")
        return "*" + slash + step  # croniter takes '?' alone only
    first, dash, last = base.partition("-")
    if first in _STARS or last in _STARS:
        kind = "a number or a name" if field in (4, 5) else "a number"
        raise ValueError(f"{name} {part!r}: a range needs {kind} at each end")
    low = _value(first, field)
    if dash:
        high = _value(last, field)
        if low > high:
            _, lo, hi = _FIELDS[field]
            hi = min(hi, 6) if field == 5 else hi
            upper = first if low == hi else f"{first}-{hi}"
            lower = last if high == lo else f"{lo}-{last}"
            raise ValueError(
                f"{name} range {base!r} runs backwards ({low} is after {high}); "
                f"a range that wraps around is written as two: {upper},{lower}"
            )
        if low == high:
            return first  # croniter reads "5-5" as the full range
    return part


def _is_star(part: str) -> bool:
    """Whether a (normalised) list item covers its whole field: ``*`` or ``*/1``."""
    base, slash, step = part.partition("/")
    return base == "*" and (not slash or int(step) == 1)


@functools.lru_cache(maxsize=4096)
def _field(field: int, text: str) -> Field:
    """Validate and expand one field (``field`` counts from the seconds). Cached: field
    texts repeat across entries far more often than whole specs do."""
    items = [_check_part(part, field) for part in text.split(",")]
    # A star anywhere in the list covers the field; a day field holding one is unrestricted.
    star = any(_is_star(item) for item in items)
    text = "*" if star else ",".join(items)
    parts = ["*"] * 6
    parts[field] = text
    try:
        expanded, nth = croniter.expand(" ".join(parts), second_at_beginning=True)
    except CroniterError as exc:
        reason = re.sub(r"^\[[^\]]*\]\s*", "", str(exc)).split("  Cron:")[0].strip()
        if not reason or reason.startswith("is not acceptable"):
            reason = f"{_FIELDS[field][0]} {text!r} is not valid ({reason or type(exc).__name__})"
        raise ValueError(reason) from None
    found = expanded[5 if field == 0 else field - 1]  # croniter puts the seconds last
    _, lo, hi = _FIELDS[field]
    if "*" in found:
        values = tuple(range(lo, min(hi, 6 if field == 5 else hi) + 1))
    else:
        values = tuple(sorted({v for v in found if isinstance(v, int)}))
    constraints = tuple((day, frozenset(str(n) for n in ns)) for day, ns in nth.items())
    return Field(text, values, star, "l" in found, constraints)


def _every_seconds(text: str) -> int:
    """The ``@every`` interval ``text`` in whole seconds, read as robfig/cron reads it.

    Parts below a second are dropped (``1.5s`` and ``5s5ns`` are whole seconds, ``1s`` and
    ``5s``) and a positive interval under a second is one second, so every tick falls on a
    whole second. Beside Go's units (``ns us µs ms s m h``) a plain number of seconds and
    ``d`` (days) are accepted. Zero and negative intervals are refused.
    """
    body = text.removeprefix("+").replace("\u03bc", "\u00b5")  # Go takes both micro signs
    if body.startswith("-"):
        raise ValueError(f"the @every interval must be positive, got {text!r}")
    total = parse_duration(body)  # raises naming the expected form
    if not math.isfinite(total):
        raise ValueError(f"the @every interval must be a finite duration, got {text!r}")
    if total <= 0:
        raise ValueError(f"the @every interval must be more than zero, got {text!r}")
    if _DURATION_PART.match(body):  # exact arithmetic: 2.3h is 8280 s, not 8279.999...
        nanos = sum(
            Fraction(m.group(1)) * _NANOS[m.group(2)] for m in _DURATION_PART.finditer(body)
        )
        whole = math.floor(nanos / 10**9)
    else:  # a plain number of seconds
        whole = math.floor(Fraction(total))
    whole = max(1, whole)
    if whole > _MAX_EVERY:
        raise ValueError(
            f"the @every interval must be at most 1000 years ({_MAX_EVERY}s), got {text!r}"
        )
    return whole


#: The longest ``@every`` interval (1000 years): its next tick stays within the calendar.
_MAX_EVERY = 1000 * 366 * 86400


def _build(spec: str, default_tz: str | tzinfo | None) -> CronSchedule:
    text = spec.strip()
    name = zone_name(default_tz)
    prefixed = _PREFIX.fullmatch(text)
    if prefixed:
        name, text = prefixed.group(1), prefixed.group(2).strip()
        if not name:
            raise ValueError("the CRON_TZ= prefix names no time zone")
        if not text:
            raise ValueError(f"nothing follows the time zone prefix {name!r}")
    zone = resolve_zone(name)
    if not text:
        raise ValueError("the spec is empty (expected e.g. '0 2 * * *' or '@every 1h')")
    lowered = text.lower()
    if lowered.startswith("@every"):
        rest = text[len("@every") :].strip()
        if not rest:
            raise ValueError("@every needs a duration such as 45s or 1h30m")
        seconds = _every_seconds(rest)
        return CronSchedule(
            spec.strip(),
            None,
            f"@every {format_duration(seconds)}",
            interval=float(seconds),
            display_tz=zone,
        )
    if lowered.startswith("@"):
        descriptor = DESCRIPTORS.get(lowered)
        if descriptor is None:
            known = " ".join(sorted(DESCRIPTORS))
            raise ValueError(f"unknown descriptor {text!r} (known: {known} @every <duration>)")
        texts = descriptor.split()
    else:
        texts = lowered.split()
        if len(texts) not in (5, 6):
            raise ValueError(
                f"expected 5 fields (minute hour day-of-month month day-of-week) or 6 with "
                f"leading seconds, got {len(texts)}"
            )
    first = 0 if len(texts) == 6 else 1
    fields = [_field(first + i, t) for i, t in enumerate(texts)]
    expression = lowered if lowered.startswith("@") else " ".join(f.text for f in fields)
    if first:
        fields.insert(0, _field(0, "0"))
    return CronSchedule(spec.strip(), zone, expression, fields=fields)


def parse_spec(spec: str, default_tz: str | tzinfo | None = "UTC") -> CronSchedule:
    """Parse ``spec``; ``default_tz`` is its zone unless it has a ``CRON_TZ=`` prefix.

    Raises :class:`~bingo_core.errors.CronSpecError` with one line naming the spec and the
    reason, e.g. ``cron spec '61 * * * *': minute 61 is out of range 0-59``.
    """
    if not isinstance(spec, str):
        raise CronSpecError(f"cron spec {spec!r}: expected a string")
    try:
        return _build(spec, default_tz)
    except ValueError as exc:
        raise CronSpecError(f"cron spec {spec.strip()!r}: {exc}") from None


def next_fire_times(
    spec: str, tz: str | None, after: datetime, n: int, default_tz: str | tzinfo | None = "UTC"
) -> list[datetime]:
    """The next ``n`` fire times of ``spec`` strictly after ``after``.

    ``tz`` is the zone when the spec has no ``CRON_TZ=`` prefix (else ``default_tz``).
    """
    schedule = parse_spec(spec, tz or default_tz)
    out: list[datetime] = []
    moment = after
    for _ in range(n):
        moment = schedule.next_after(moment)
        out.append(moment)
    return out

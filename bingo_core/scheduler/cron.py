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

import bisect
import calendar
import functools
import math
import re
import threading
import time
from datetime import UTC, date, datetime, tzinfo
from fractions import Fraction
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

from ..durations import format_duration, parse_duration
from ..errors import CronSpecError

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
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_LAST_YEAR = 9000  # searches stop here (datetime ends at 9999)
_PROBE_STEP = 6 * 3600  # zone offsets are probed this often; changes are bisected


def resolve_zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; raises ``ValueError`` naming it when it does not exist."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise ValueError(f"unknown time zone {name!r}") from None


def _zone_name(zone: str | tzinfo | None) -> str:
    if zone is None:
        return "UTC"
    if isinstance(zone, str):
        return zone.strip()
    if zone is UTC:
        return "UTC"
    key = getattr(zone, "key", None)
    if isinstance(key, str):
        return key
    raise ValueError(f"unknown time zone {zone!r} (expected an IANA name such as Asia/Shanghai)")


def _wall(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> int:
    """Wall-clock fields as seconds on a naive epoch scale."""
    return (date(y, mo, d).toordinal() - _EPOCH_ORDINAL) * 86400 + h * 3600 + mi * 60 + s


def _year_start(year: int) -> int:
    return (date(year, 1, 1).toordinal() - _EPOCH_ORDINAL) * 86400


class _Timeline:
    """The UTC-offset changes of one zone, probed from zoneinfo and kept per year.

    The scanned data is one tuple replaced as a whole, so readers on other threads always
    see a consistent snapshot.
    """

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self.lock = threading.Lock()
        # (first year, end year, change instants, offsets before, offsets after,
        #  offset at the start of the first year); years [first, end) are scanned.
        self.data: tuple[int, int, list[int], list[int], list[int], int] = (0, 0, [], [], [], 0)

    def offset(self, ts: int) -> int:
        off = datetime.fromtimestamp(ts, self.zone).utcoffset()
        return 0 if off is None else int(off.total_seconds())

    def _scan(self, year: int) -> list[tuple[int, int, int]]:
        """Offset changes ``(instant, before, after)`` in ``(start of year, start of next]``."""
        t, end = _year_start(year), _year_start(year + 1)
        prev = self.offset(t)
        out = []
        while t < end:
            nxt = min(t + _PROBE_STEP, end)
            off = self.offset(nxt)
            if off != prev:
                a, b = t, nxt  # offset(a) == prev, offset(b) == off
                while b - a > 1:
                    mid = (a + b) // 2
                    if self.offset(mid) == prev:
                        a = mid
                    else:
                        b = mid
                out.append((b, prev, off))
                prev = off
            t = nxt
        return out

    def _ensure(self, year: int) -> tuple[int, int, list[int], list[int], list[int], int]:
        data = self.data
        if data[0] <= year - 1 and year + 1 < data[1]:
            return data
        with self.lock:
            lo, hi, instants, before, after, _ = self.data
            if hi == 0 or year + 1 < lo - 5 or year - 1 > hi + 5:
                changes: list[tuple[int, int, int]] = []
                lo = hi = year - 1
            else:
                changes = list(zip(instants, before, after, strict=True))
            while lo > year - 1:
                lo -= 1
                changes = self._scan(lo) + changes
            while hi <= year + 1:
                changes += self._scan(hi)
                hi += 1
            self.data = data = (
                lo,
                hi,
                [c[0] for c in changes],
                [c[1] for c in changes],
                [c[2] for c in changes],
                self.offset(_year_start(lo)),
            )
        return data

    def segment(self, ts: int) -> tuple[int | None, int, int, int]:
        """``(start, end, offset, previous offset)`` of the constant-offset span holding ``ts``.

        ``start`` is the last offset change at or before ``ts`` (None when there is none in
        the scanned years); ``end`` is the next change, or the end of the scanned years.
        """
        _, hi, instants, before, after, base = self._ensure(time.gmtime(ts).tm_year)
        i = bisect.bisect_right(instants, ts)
        end = instants[i] if i < len(instants) else _year_start(hi)
        if i:
            return instants[i - 1], end, after[i - 1], before[i - 1]
        return None, end, base, base


_TIMELINES: dict[str, _Timeline] = {}


def _timeline_of(zone: ZoneInfo) -> _Timeline:
    line = _TIMELINES.get(zone.key)
    if line is None:
        line = _TIMELINES.setdefault(zone.key, _Timeline(zone))
    return line


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


class _Field(NamedTuple):
    text: str  # normalised for croniter
    values: tuple[int, ...]  # sorted; every value when the field is unrestricted
    any: bool  # written as * or ? (matters for the day fields)
    last: bool  # day of month: L
    nth: tuple[tuple[int, frozenset[str]], ...]  # day of week: weekday -> {"2", "l"}


@functools.lru_cache(maxsize=4096)
def _field(field: int, text: str) -> _Field:
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
    return _Field(text, values, star, "l" in found, constraints)


class CronSchedule:
    """A parsed spec: :meth:`next_after` gives the next fire instant.

    ``zone`` is the IANA zone the spec is read in (None for ``@every``); ``interval`` is the
    ``@every`` period in whole seconds (None for cron fields); ``display_tz`` is the zone to
    show fire times in (for ``@every``, which ignores zones, its prefix's or the default).
    """

    __slots__ = (
        "_day_or",
        "_days",
        "_dom",
        "_dom_last",
        "_dow",
        "_hours",
        "_minutes",
        "_month_set",
        "_months",
        "_nth",
        "_seconds",
        "_timeline",
        "display_tz",
        "every_hour",
        "expression",
        "interval",
        "spec",
        "tz",
        "zone",
    )

    def __init__(
        self,
        spec: str,
        zone: ZoneInfo | None,
        expression: str,
        *,
        fields: list[_Field] | None = None,
        interval: float | None = None,
        display_tz: ZoneInfo | None = None,
    ) -> None:
        self.spec = spec
        self.tz: ZoneInfo | None = zone
        self.zone: str | None = None if zone is None else zone.key
        self.display_tz: ZoneInfo = display_tz or zone or ZoneInfo("UTC")
        self.expression = expression
        self.interval = interval
        #: Whether the hour field repeats (``*``, a step, every hour): fires on both
        #: occurrences of a repeated wall-clock time.
        self.every_hour = False
        self._days: dict[int, tuple[int, ...]] = {}
        self._timeline: _Timeline | None = None
        if fields is not None and zone is not None:
            self._expand(fields)
            self._timeline = _timeline_of(zone)

    def _expand(self, fields: list[_Field]) -> None:
        second, minute, hour, dom, month, dow = fields
        self._seconds = list(second.values)
        self._minutes = list(minute.values)
        self._hours = list(hour.values)
        self._months = list(month.values)
        self._month_set = frozenset(self._months)
        self._dom = None if dom.any else frozenset(dom.values)
        self._dom_last = dom.last
        self._dow = None if dow.any else frozenset(dow.values)
        self._nth = dict(dow.nth)
        self._day_or = not dom.any and not dow.any
        self.every_hour = "*" in hour.text or "/" in hour.text or len(self._hours) == 24
        if self._dom is None and not self._nth:
            return  # every month has every weekday
        if not any(self._month_days(y, m) for y in range(2000, 2033) for m in self._months):
            raise ValueError("it never fires (no date matches its day and month fields)")

    def _month_days(self, year: int, month: int) -> tuple[int, ...]:
        first, last = calendar.monthrange(year, month)
        dom: set[int] | None = None
        if self._dom is not None:
            dom = {d for d in self._dom if d <= last}
            if self._dom_last:
                dom.add(last)
        dow: set[int] | None = None
        if self._dow is not None:
            dow = set()
            for d in range(1, last + 1):
                weekday = (first + d) % 7  # cron counts from Sunday = 0
                if weekday in self._dow:
                    nth = self._nth.get(weekday)
                    if nth is None or str((d - 1) // 7 + 1) in nth or ("l" in nth and d + 7 > last):
                        dow.add(d)
        if dom is None and dow is None:
            return tuple(range(1, last + 1))
        if dow is None:
            return tuple(sorted(dom or ()))
        if dom is None:
            return tuple(sorted(dow))
        return tuple(sorted(dom | dow if self._day_or else dom & dow))

    def _month(self, year: int, month: int) -> tuple[int, ...]:
        key = year * 16 + month
        days = self._days.get(key)
        if days is None:
            if len(self._days) > 512:
                self._days.clear()
            days = self._days[key] = self._month_days(year, month)
        return days

    def _next_wall(self, lo: int, limit: int) -> int | None:
        """The first matching wall-clock second in ``[lo, limit)``, or None."""
        if lo >= limit:
            return None
        tm = time.gmtime(lo)
        y, mo, d = tm.tm_year, tm.tm_mon, tm.tm_mday
        h, mi, s = tm.tm_hour, tm.tm_min, tm.tm_sec
        months, hours, minutes, seconds = self._months, self._hours, self._minutes, self._seconds
        h0, m0, s0 = hours[0], minutes[0], seconds[0]
        while True:
            if mo not in self._month_set:
                i = bisect.bisect_left(months, mo)
                if i == len(months):
                    y, mo = y + 1, months[0]
                else:
                    mo = months[i]
                d, h, mi, s = 1, h0, m0, s0
                if y > _LAST_YEAR or _wall(y, mo, 1) >= limit:
                    return None
            days = self._month(y, mo)
            i = bisect.bisect_left(days, d)
            if i == len(days):
                y, mo = (y + 1, 1) if mo == 12 else (y, mo + 1)
                d, h, mi, s = 1, h0, m0, s0
                if y > _LAST_YEAR or _wall(y, mo, 1) >= limit:
                    return None
                continue
            if days[i] != d:
                d, h, mi, s = days[i], h0, m0, s0
            i = bisect.bisect_left(hours, h)
            if i == len(hours):
                d, h, mi, s = d + 1, h0, m0, s0
                continue
            if hours[i] != h:
                h, mi, s = hours[i], m0, s0
            i = bisect.bisect_left(minutes, mi)
            if i == len(minutes):
                h, mi, s = h + 1, m0, s0
                continue
            if minutes[i] != mi:
                mi, s = minutes[i], s0
            i = bisect.bisect_left(seconds, s)
            if i == len(seconds):
                mi, s = mi + 1, s0
                continue
            found = _wall(y, mo, d, h, mi, seconds[i])
            return found if found < limit else None

    def _next_cron(self, ts: int) -> int:
        """The first fire instant at or after epoch second ``ts``."""
        timeline = self._timeline
        assert timeline is not None  # a cron schedule always has its zone's timeline
        end_ts = _year_start(_LAST_YEAR)
        while ts < end_ts:
            start, end, off, prev = timeline.segment(ts)
            if (
                start == ts
                and prev < off
                and not self.every_hour
                and self._next_wall(ts + prev, ts + off) is not None
            ):
                # A fixed-hour time in the gap fires when the gap ends; an every-hour entry
                # just goes on with its next real hour (classic cron), so it never fires twice
                # within one real hour.
                return ts
            lo = ts + off
            if start is not None and prev > off and not self.every_hour:
                lo = max(lo, start + prev)  # a fixed hour fires on the first occurrence only
            found = self._next_wall(lo, end + off)
            if found is not None:
                return found - off
            ts = end
        raise CronSpecError(f"cron spec {self.spec!r}: no fire time before year {_LAST_YEAR}")

    def next_timestamp(self, after: float) -> float:
        """The first fire instant strictly after epoch seconds ``after``, as epoch seconds."""
        interval = self.interval
        if interval is not None:
            nxt = (math.floor(after / interval) + 1) * interval
            return nxt + interval if nxt <= after else nxt
        return float(self._next_cron(math.floor(after) + 1))

    def next_after(self, after: datetime) -> datetime:
        """The first fire instant strictly after the aware datetime ``after``.

        Returned in the schedule's zone (UTC for ``@every``; see :attr:`display_tz`).
        """
        if after.tzinfo is None or after.utcoffset() is None:
            raise ValueError(f"next_after needs an aware datetime, got {after!r}")
        # Searches start no earlier than 1970 (a timeline before it is not read) and end
        # before the calendar does.
        start = max(after.timestamp(), 0.0)
        try:
            if self.interval is not None:
                found = self.next_timestamp(start)
                if found >= _year_start(_LAST_YEAR):
                    raise OverflowError
                return datetime.fromtimestamp(found, UTC)
            return datetime.fromtimestamp(self._next_cron(math.floor(start) + 1), self.tz)
        except (OverflowError, ValueError, OSError):
            raise CronSpecError(
                f"cron spec {self.spec!r}: no fire time before year {_LAST_YEAR}"
            ) from None

    def describe(self) -> str:
        """A short human description: ``every 1h30m`` or ``30 1 * * * in Europe/London``."""
        if self.interval is not None:
            every = self.expression.removeprefix("@every ")
            return f"every {every} (whole seconds; ticks aligned to the Unix epoch)"
        text = self.expression
        if len(text.split()) == 6:
            text += " (with seconds)"
        return f"{text} in {self.zone}"

    def _ident(self) -> tuple[object, ...]:
        return (self.expression, self.zone, self.interval)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CronSchedule):
            return NotImplemented
        return self._ident() == other._ident()

    def __hash__(self) -> int:
        return hash(self._ident())

    def __repr__(self) -> str:
        return f"CronSchedule({self.spec!r}, zone={self.zone!r})"


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
    zone_name = _zone_name(default_tz)
    prefixed = _PREFIX.fullmatch(text)
    if prefixed:
        zone_name, text = prefixed.group(1), prefixed.group(2).strip()
        if not zone_name:
            raise ValueError("the CRON_TZ= prefix names no time zone")
        if not text:
            raise ValueError(f"nothing follows the time zone prefix {zone_name!r}")
    zone = resolve_zone(zone_name)
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

"""When a parsed cron spec fires: :class:`CronSchedule` computes fire times on integer epoch
seconds in its zone, walking the zone's offset changes (:mod:`.zones`), with the
daylight-saving policy described in :mod:`.cron`, which parses specs into schedules.
"""

from __future__ import annotations

import bisect
import calendar
import math
import time
from datetime import UTC, datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

from ..errors import CronSpecError
from .zones import LAST_YEAR, Timeline, timeline_of, wall, year_start


class Field(NamedTuple):
    """One field of a cron spec, expanded."""

    text: str  # normalised for croniter
    values: tuple[int, ...]  # sorted; every value when the field is unrestricted
    any: bool  # written as * or ? (matters for the day fields)
    last: bool  # day of month: L
    nth: tuple[tuple[int, frozenset[str]], ...]  # day of week: weekday -> {"2", "l"}


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
        fields: list[Field] | None = None,
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
        self._timeline: Timeline | None = None
        if fields is not None and zone is not None:
            self._expand(fields)
            self._timeline = timeline_of(zone)

    def _expand(self, fields: list[Field]) -> None:
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

    def _nextwall(self, lo: int, limit: int) -> int | None:
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
                if y > LAST_YEAR or wall(y, mo, 1) >= limit:
                    return None
            days = self._month(y, mo)
            i = bisect.bisect_left(days, d)
            if i == len(days):
                y, mo = (y + 1, 1) if mo == 12 else (y, mo + 1)
                d, h, mi, s = 1, h0, m0, s0
                if y > LAST_YEAR or wall(y, mo, 1) >= limit:
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
            found = wall(y, mo, d, h, mi, seconds[i])
            return found if found < limit else None

    def _next_cron(self, ts: int) -> int:
        """The first fire instant at or after epoch second ``ts``."""
        timeline = self._timeline
        assert timeline is not None  # a cron schedule always has its zone's timeline
        end_ts = year_start(LAST_YEAR)
        while ts < end_ts:
            start, end, off, prev = timeline.segment(ts)
            if (
                start == ts
                and prev < off
                and not self.every_hour
                and self._nextwall(ts + prev, ts + off) is not None
            ):
                # A fixed-hour time in the gap fires when the gap ends; an every-hour entry
                # just goes on with its next real hour (classic cron), so it never fires twice
                # within one real hour.
                return ts
            lo = ts + off
            if start is not None and prev > off and not self.every_hour:
                lo = max(lo, start + prev)  # a fixed hour fires on the first occurrence only
            found = self._nextwall(lo, end + off)
            if found is not None:
                return found - off
            ts = end
        raise CronSpecError(f"cron spec {self.spec!r}: no fire time before year {LAST_YEAR}")

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
                if found >= year_start(LAST_YEAR):
                    raise OverflowError
                return datetime.fromtimestamp(found, UTC)
            return datetime.fromtimestamp(self._next_cron(math.floor(start) + 1), self.tz)
        except (OverflowError, ValueError, OSError):
            raise CronSpecError(
                f"cron spec {self.spec!r}: no fire time before year {LAST_YEAR}"
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

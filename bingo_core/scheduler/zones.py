"""Time zones for cron specs: IANA names, and each zone's UTC-offset changes found once per
zone and year by probing :mod:`zoneinfo` (the fire-time search in :mod:`.cron` walks them
on integer epoch seconds)."""

from __future__ import annotations

import bisect
import threading
import time
from datetime import UTC, date, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
LAST_YEAR = 9000  # searches stop here (datetime ends at 9999)
PROBE_STEP = 6 * 3600  # zone offsets are probed this often; changes are bisected


def resolve_zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; raises ``ValueError`` naming it when it does not exist."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise ValueError(f"unknown time zone {name!r}") from None


def zone_name(zone: str | tzinfo | None) -> str:
    """The IANA name of ``zone`` (a name, a ``ZoneInfo``, ``UTC`` or None: UTC)."""
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


def wall(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> int:
    """Wall-clock fields as seconds on a naive epoch scale."""
    return (date(y, mo, d).toordinal() - EPOCH_ORDINAL) * 86400 + h * 3600 + mi * 60 + s


def year_start(year: int) -> int:
    """The start of ``year`` on the naive epoch scale of :func:`wall`."""
    return (date(year, 1, 1).toordinal() - EPOCH_ORDINAL) * 86400


class Timeline:
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
        """The zone's UTC offset (s) at epoch second ``ts``."""
        off = datetime.fromtimestamp(ts, self.zone).utcoffset()
        return 0 if off is None else int(off.total_seconds())

    def _scan(self, year: int) -> list[tuple[int, int, int]]:
        """Offset changes ``(instant, before, after)`` in ``(start of year, start of next]``."""
        t, end = year_start(year), year_start(year + 1)
        prev = self.offset(t)
        out = []
        while t < end:
            nxt = min(t + PROBE_STEP, end)
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
                self.offset(year_start(lo)),
            )
        return data

    def segment(self, ts: int) -> tuple[int | None, int, int, int]:
        """``(start, end, offset, previous offset)`` of the constant-offset span holding ``ts``.

        ``start`` is the last offset change at or before ``ts`` (None when there is none in
        the scanned years); ``end`` is the next change, or the end of the scanned years.
        """
        _, hi, instants, before, after, base = self._ensure(time.gmtime(ts).tm_year)
        i = bisect.bisect_right(instants, ts)
        end = instants[i] if i < len(instants) else year_start(hi)
        if i:
            return instants[i - 1], end, after[i - 1], before[i - 1]
        return None, end, base, base


_TIMELINES: dict[str, Timeline] = {}


def timeline_of(zone: ZoneInfo) -> Timeline:
    """The (shared) timeline of ``zone``."""
    line = _TIMELINES.get(zone.key)
    if line is None:
        line = _TIMELINES.setdefault(zone.key, Timeline(zone))
    return line

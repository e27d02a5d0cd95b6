"""Go-style durations (``10s``, ``1h30m``, ``250ms``) as used by the config and ``@every``."""

from __future__ import annotations

import re
from typing import Any

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d)")


def parse_duration(value: object) -> float:
    """Return seconds for a Go duration string or a plain number of seconds.

    Raises ``ValueError`` naming the expected form when the value is not a duration.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration (expected e.g. 10s, 1h30m or seconds)")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"{value!r} is negative (expected a duration >= 0)")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration (expected e.g. 10s, 1h30m or seconds)")
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if number < 0:
            raise ValueError(f"{value!r} is negative (expected a duration >= 0)")
        return number
    pos, total = 0, 0.0
    if text in ("", "0"):
        if text == "0":
            return 0.0
        raise ValueError("empty duration (expected e.g. 10s, 1h30m or seconds)")
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text):
        raise ValueError(
            f"{value!r} is not a duration (expected e.g. 10s, 1h30m, 250ms or seconds)"
        )
    return total


def format_duration(seconds: float) -> str:
    """Format seconds as a short Go-style duration (``1h30m``, ``45s``, ``250ms``)."""
    if seconds < 1 and seconds > 0:
        return f"{round(seconds * 1000)}ms"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    out = ""
    if hours:
        out += f"{hours}h"
    if minutes:
        out += f"{minutes}m"
    if secs or not out:
        out += f"{secs}s"
    return out


def shown(value: Any) -> str:
    """Seconds as ``850 ms``, ``12.5 s``, ``3m 20s``, ``2h 5m``, ``3d 4h`` (``-`` for
    None; below 0 as 0): the dashboard's ``dur`` filter and the CLI's tables."""
    if value is None:
        return "-"
    s = max(0.0, float(value))
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)}m {int(s % 60)}s"
    if s < 86400:
        return f"{int(s // 3600)}h {int(s % 3600 // 60)}m"
    return f"{int(s // 86400)}d {int(s % 86400 // 3600)}h"

"""Template filters; ``static/app.js`` formats live values the same way (``data-fmt``)."""

from __future__ import annotations

import json
import time
from datetime import datetime, tzinfo
from typing import Any

from jinja2 import Environment

from ..durations import shown as duration


def number(value: Any) -> str:
    """``12,345`` (``-`` for None)."""
    if value is None:
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def percent(value: Any) -> str:
    """A fraction as ``3.2%``."""
    if value is None:
        return "-"
    return f"{float(value) * 100:.1f}%"


def size(value: Any) -> str:
    """Bytes as ``1.5 MB``."""
    if value is None:
        return "-"
    amount = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if amount < 1024 or unit == "GB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} GB"


def ago(value: Any, now: float | None = None) -> str:
    """An epoch time as ``5m 3s ago`` or ``in 2h 1m``."""
    if not value:
        return "-"
    delta = (now or time.time()) - float(value)
    return f"{duration(delta)} ago" if delta >= 0 else f"in {duration(-delta)}"


def make_when(zone: tzinfo) -> Any:
    def when(value: Any) -> str:
        """An epoch time in the server's zone: ``2026-01-31 02:00:00``."""
        if not value:
            return "-"
        try:
            return datetime.fromtimestamp(float(value), zone).strftime("%Y-%m-%d %H:%M:%S")
        except (OverflowError, OSError, ValueError):
            return "-"

    return when


def pretty(value: Any) -> str:
    """Indented JSON (escaped by the template like any text)."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)


def compact(value: Any, limit: int = 120) -> str:
    """One-line JSON, cut at ``limit`` characters."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def queue_list(value: Any) -> str:
    """A worker's queues as ``critical \u00d76, default \u00d73`` (each name, a times sign and
    its weight), or the names of a list in its order; empty for anything else."""
    if isinstance(value, dict):
        return ", ".join(f"{name} \u00d7{weight}" for name, weight in value.items())
    if isinstance(value, list):
        return ", ".join(str(name) for name in value)
    return ""


def tojson_attr(value: Any) -> str:
    """JSON for an HTML attribute (autoescaping makes it safe)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def install(env: Environment, zone: tzinfo) -> None:
    """Add the filters to ``env``."""
    env.filters.update(
        n=number,
        pct=percent,
        bytes=size,
        dur=duration,
        ago=ago,
        when=make_when(zone),
        pretty=pretty,
        compact=compact,
        queues=queue_list,
        jattr=tojson_attr,
    )

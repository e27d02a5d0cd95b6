"""How far a running task is: what ``ctx.progress`` reports and the task hash keeps."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from .base import Record

#: Longest note kept (characters); a longer one is cut.
NOTE_MAX = 200


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"progress: {name} must be a finite number, got {value!r}")
    if value < 0:
        raise ValueError(f"progress: {name} must not be negative, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class TaskProgress(Record):
    """How far a task is: ``done`` out of ``total`` (None: unknown), a short note, and
    when it was reported (epoch seconds)."""

    done: float
    total: float | None
    note: str
    at: float

    @classmethod
    def of(cls, done: Any, total: Any, note: Any, at: float) -> TaskProgress:
        """Checked values (ValueError, one line, for a bad one); the note cut to
        :data:`NOTE_MAX` characters."""
        done = _number("done", done)
        if total is not None:
            total = _number("total", total)
        if not isinstance(note, str):
            raise ValueError(f"progress: note must be a string, got {type(note).__name__}")
        return cls(done, total, note[:NOTE_MAX], at)

    @property
    def percent(self) -> float | None:
        """``done`` as a percentage of ``total`` (None when there is no total)."""
        if not self.total:
            return None
        return min(100.0, 100.0 * self.done / self.total)

    def encode(self) -> str:
        """The JSON kept in the task hash's ``progress`` field."""
        return json.dumps(self.to_json(), separators=(",", ":"))

    @classmethod
    def decode(cls, raw: Any) -> TaskProgress | None:
        """From the hash's field; None when absent or not a progress record."""
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            return cls(
                float(data["done"]),
                None if data.get("total") is None else float(data["total"]),
                str(data.get("note", "")),
                float(data.get("at", 0.0)),
            )
        except (ValueError, TypeError, KeyError):
            return None

    def text(self) -> str:
        """One line: ``3/10 (30%) note``, ``3 note`` without a total."""
        shown = f"{self.done:g}" if self.total is None else f"{self.done:g}/{self.total:g}"
        if self.percent is not None:
            shown += f" ({self.percent:.0f}%)"
        return f"{shown} {self.note}".rstrip()

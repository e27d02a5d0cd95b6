"""Flow control of one task type: its ``concurrency_limit``, ``rate_limit`` and
``limit_key``, and the ``lim`` field a limited task carries in Redis.

A task of a limited type is written with a ``lim`` hash field,
``<concurrency>|<rate count>|<rate period s>|<subject>``, where the subject is the type,
or the type, a unit separator (``\\x1f``) and the value of the ``limit_key`` field of its
payload. The scripts read the limits from it (``fetch.lua`` admits or holds the task,
``ack.lua``/``retry.lua``/``archive.lua``/``requeue.lua`` free its slot), so a task keeps
the limits its type had when it was enqueued. A task with no ``lim`` costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic_core import from_json, to_json

from .options import parse_rate

#: Between the type and the key value in a subject.
KEY_SEP = "\x1f"


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits of a task type (0: none of that kind)."""

    concurrency: int
    rate: int
    period: float
    #: The payload field whose values get their own limits, or None.
    key: str | None

    @classmethod
    def of(cls, options: Mapping[str, Any]) -> Limits | None:
        """The limits in a type's (merged) options, or None when it has none."""
        conc = options.get("concurrency_limit") or 0
        rate_text = options.get("rate_limit")
        if not conc and not rate_text:
            return None
        rate, period = parse_rate(rate_text) if rate_text else (0, 0.0)
        return cls(conc, rate, period, options.get("limit_key"))

    def head(self, task_type: str) -> str:
        """The ``lim`` field up to the key value."""
        return f"{self.concurrency}|{self.rate}|{self.period:g}|{task_type}"

    def field(self, head: str, payload_json: str) -> str:
        """The ``lim`` field of one task (``head`` from :meth:`head`)."""
        if self.key is None:
            return head
        try:
            value = from_json(payload_json).get(self.key)
        except (ValueError, AttributeError):
            value = None
        shown = value if isinstance(value, str) else to_json(value).decode()
        return head + KEY_SEP + shown


def split_subject(subject: str) -> tuple[str, str | None]:
    """A subject -> (task type, key value or None)."""
    task_type, sep, key = subject.partition(KEY_SEP)
    return task_type, (key if sep else None)


def subject_of(lim: str) -> str:
    """The subject part of a ``lim`` field."""
    return lim.split("|", 3)[-1]


def hold_reason(lim: str, running: int, next_start: float | None, now: float) -> str:
    """Why a task with ``lim`` field ``lim`` is held back, given its subject's running
    slots, the Redis time its next start may have (None: any time) and Redis's now."""
    conc, rate, period, subject = lim.split("|", 3)
    task_type, key = split_subject(subject)
    why = []
    if int(conc) and running >= int(conc):
        why.append(f"concurrency_limit={conc} ({running} running)")
    if int(rate):
        wait = max(0.0, (next_start or now) - now)
        why.append(f"rate_limit={rate}/{period}s (next start in {wait:.2f}s)")
    whose = f"type {task_type}" + (f", key {key!r}" if key is not None else "")
    return f"held back by {' and '.join(why) or 'its limits'} of {whose}"

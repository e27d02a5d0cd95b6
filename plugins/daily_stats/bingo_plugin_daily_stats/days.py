"""The ``date`` field of the daily plugins' payloads: ``today``, ``yesterday`` or an ISO date,
read in the server's time zone (``ctx.timezone``)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

RELATIVE = ("today", "yesterday")


def _as_text(value: object) -> object:
    # A YAML or JSON date (2026-01-31 unquoted) arrives as a date object: take it as written.
    return value.isoformat() if isinstance(value, date) else value


def check_day(value: str) -> str:
    """``value`` normalised (``today``, ``yesterday`` or ``YYYY-MM-DD``); raises
    :class:`ValueError` naming what is expected."""
    text = value.strip().lower()
    if text in RELATIVE:
        return text
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise ValueError(
            f"expected 'today', 'yesterday' or a date such as 2026-01-31, got {value!r}"
        ) from None


#: A payload field holding ``today``, ``yesterday`` or ``YYYY-MM-DD``.
DaySpec = Annotated[str, BeforeValidator(_as_text), AfterValidator(check_day)]


def resolve_day(spec: str, zone: tzinfo, now: datetime | None = None) -> date:
    """The calendar day ``spec`` names, with ``today`` and ``yesterday`` read in ``zone``
    (the server's zone: ``ctx.timezone``) at ``now`` (default: the current time)."""
    text = check_day(spec)
    if text not in RELATIVE:
        return date.fromisoformat(text)
    today = (now or datetime.now(zone)).astimezone(zone).date()
    return today if text == "today" else today - timedelta(days=1)

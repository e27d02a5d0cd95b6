"""The database's health as the scheduler reports it: one line when it fails, not one per
attempt."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger("bingo.sync")

#: While the database cannot be used, its error is logged again at most this often (s).
REPEAT_EVERY = 60.0


class StoreTrouble:
    """A database that cannot be used, said once when it starts, again at most every
    :data:`REPEAT_EVERY` seconds (or when the reason changes), and its return once."""

    def __init__(
        self,
        logger: logging.Logger = log,
        repeat_every: float = REPEAT_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log = logger
        self.repeat_every = repeat_every
        self.clock = clock
        self.since: float | None = None  # time.monotonic() of the first failure
        self.reason: str | None = None
        self._said = 0.0

    @property
    def down(self) -> bool:
        """Whether the last attempt failed."""
        return self.since is not None

    def failed(self, reason: str, consequence: str) -> None:
        """An attempt failed with ``reason`` (one line); ``consequence`` says what goes on."""
        now = self.clock()
        first = self.since is None
        if self.since is None:
            self.since = now
        if first or reason != self.reason or now - self._said >= self.repeat_every:
            lasted = "" if first else f" (for {now - self.since:.0f}s now)"
            self.log.warning("%s%s; %s", reason, lasted, consequence)
            self._said = now
        self.reason = reason

    def ok(self, what: str) -> None:
        """An attempt worked: log ``what`` is back when it was failing."""
        if self.since is not None:
            self.log.info("%s (after %.0fs)", what, self.clock() - self.since)
        self.since = None
        self.reason = None

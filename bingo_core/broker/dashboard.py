"""The dashboard's state in Redis: its signing secret and its logins.

Every daemon serving the dashboard shares them, so a login made on one is honoured (and a
logout ends it) on all. The values are opaque here: the dashboard decides what the secret
record holds and how a session id becomes the ``ref`` its key is named after.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from . import connection, scripts
from .base import _s
from .connection import CONNECTION_ERRORS

if TYPE_CHECKING:
    from .broker import Broker


class DashboardStore:
    """The dashboard's secret and logins, on the synchronous broker (blocking: run it off
    the event loop)."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.keys = broker.keys
        self.redis = broker.redis

    @contextmanager
    def _reaching(self) -> Iterator[None]:
        try:
            yield
        except CONNECTION_ERRORS as exc:
            raise connection.unavailable(self.broker.cfg, exc) from None

    def secret(self) -> str:
        """The stored secret record ("" when there is none)."""
        with self._reaching():
            value = self.redis.get(self.keys.dashboard_secret)
        return _s(value) if value is not None else ""

    def swap_secret(self, seen: str, value: str) -> str:
        """Store ``value`` if the record is still ``seen``; the record kept now (``value``,
        or what another process stored in between)."""
        return _s(self.broker._call(scripts.dash_secret(self.keys.dashboard_secret, seen, value)))

    def start_session(self, ref: str, role: str, ttl: int) -> None:
        """Keep the login ``ref`` with its ``role`` for ``ttl`` seconds."""
        with self._reaching():
            self.redis.set(self.keys.dashboard_session(ref), role, ex=ttl)

    def session_role(self, ref: str) -> str | None:
        """The role of the login ``ref``, or None when it ended or expired."""
        with self._reaching():
            value = self.redis.get(self.keys.dashboard_session(ref))
        return _s(value) if value is not None else None

    def end_session(self, ref: str) -> None:
        """End the login ``ref``."""
        with self._reaching():
            self.redis.delete(self.keys.dashboard_session(ref))

    def end_sessions(self) -> int:
        """End every login (on every node of a Cluster); how many there were."""
        ended = 0
        with self._reaching():
            for key in self.redis.scan_iter(match=self.keys.dashboard_sessions, count=500):
                ended += int(self.redis.unlink(key))
        return ended

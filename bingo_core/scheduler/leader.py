"""The scheduler's leader lease: one daemon at a time fires ticks.

The lease is ``SET P:{scheduler}:leader <daemon id> NX PX ttl``; each acquisition INCRs
``P:{scheduler}:epoch`` and the new value is the leader's fencing token, checked by every
script the leader runs. The leader renews every ``ttl / 3`` with a compare-and-renew
script; a follower retries every ``ttl / 3``, or right when the held lease expires, so a
dead leader is replaced within the TTL. The leader counts itself leader only until
``ttl * 0.9`` after the last renewal it sent that succeeded: a leader cut off from Redis
stops firing before another can take over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from ..broker import CONNECTION_ERRORS
from ..broker.schedstate import SchedState

log = logging.getLogger("bingo.scheduler")

#: Part of the TTL a leader trusts its lease for after a renewal (room for clock drift).
TRUST = 0.9
#: Shortest wait between two attempts, so followers never spin.
MIN_RETRY = 0.005


class LeaderLease:
    """Acquires and renews the leader lease; calls each of :attr:`listeners` on a change."""

    def __init__(self, state: SchedState, ttl: float) -> None:
        self.state = state
        self.ttl = ttl
        self.token: int | None = None
        self.listeners: list[Callable[[], None]] = []
        self._valid_until = 0.0
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    @property
    def daemon_id(self) -> str:
        """This daemon's id in the lease."""
        return self.state.daemon_id

    @property
    def is_leader(self) -> bool:
        """Whether this daemon holds a lease it can still trust."""
        return self.token is not None and time.monotonic() < self._valid_until

    def start(self) -> None:
        """Start the lease loop on the running loop (the first attempt runs at once)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self.run(), name="bingo-scheduler-lease"
            )

    async def stop(self) -> None:
        """Stop the loop and release the lease when held."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        token = self.token
        if token is not None:
            self._set(None)
            try:
                if await self.state.release(token):
                    log.info("scheduler lease released by %s", self.daemon_id)
            except CONNECTION_ERRORS as exc:
                log.warning("could not release the scheduler lease: %s", exc)

    def lost(self) -> None:
        """Give up leadership at once (a fenced write was refused)."""
        if self.token is not None:
            log.warning("scheduler lease lost by %s (another daemon took over)", self.daemon_id)
            self._set(None)
            self._wake.set()

    def _set(self, token: int | None) -> None:
        if token != self.token:
            self.token = token
            for listener in self.listeners:
                listener()

    async def step(self) -> float:
        """One acquire-or-renew attempt; returns seconds until the next one."""
        period = self.ttl / 3
        sent = time.monotonic()
        token = self.token
        if token is None:
            ok, value = await self.state.acquire(self.ttl)
            if not ok:
                if value < 0:  # the lease just went away (-2), or has no TTL (-1)
                    return MIN_RETRY if value == -2 else period
                # Come back right when the holder's lease runs out, if that is sooner.
                return max(MIN_RETRY, min(period, value / 1000 + 0.001))
            self._valid_until = sent + self.ttl * TRUST
            log.info("scheduler leader: %s (token %d)", self.daemon_id, value)
            self._set(value)
            return period
        if await self.state.renew(token, self.ttl):
            self._valid_until = sent + self.ttl * TRUST
        else:
            self.lost()
        return period

    async def run(self) -> None:
        """Acquire or renew until cancelled; Redis errors are logged and retried."""
        failing = False
        while True:
            try:
                delay = await self.step()
                if failing:
                    log.info("scheduler lease: Redis at %s answers again", self.state.address)
                    failing = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down, or an answer we did not expect
                if not failing:
                    log.warning("scheduler lease: %s; retrying", exc)
                    failing = True
                delay = min(self.ttl / 3, 0.5)
            if self.token is not None and not self.is_leader:
                log.warning("scheduler lease of %s expired before it was renewed", self.daemon_id)
                self._set(None)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)

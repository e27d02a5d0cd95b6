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

from ..broker.schedstate import SchedState
from ..loops import MAX_DELAY, Guard, cancel_and_wait, one_line, redis_outage

log = logging.getLogger("bingo.scheduler")

#: Part of the TTL a leader trusts its lease for after a renewal (room for clock drift).
TRUST = 0.9
#: Shortest wait between two attempts, so followers never spin.
MIN_RETRY = 0.005


class LeaderLease:
    """Acquires and renews the leader lease; calls each of :attr:`listeners` on a change.

    When this daemon loses the lease, the line it logs says what happened, as far as
    Redis shows it: the lease expired while Redis did not answer, Redis lost its data
    (the fencing epoch went back), the lease key was gone or changed, or another daemon
    took over.
    """

    def __init__(self, state: SchedState, ttl: float) -> None:
        self.state = state
        self.ttl = ttl
        self.token: int | None = None
        self.listeners: list[Callable[[], None]] = []
        self._valid_until = 0.0
        self._renewed = 0.0  # time.monotonic() of the last acquisition or renewal
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        # The token this daemon held before it lost the lease, and why it lost it; the
        # line saying so waits for the next acquisition attempt, which tells the rest.
        self._previous: int | None = None
        self._why = ""
        # A lease granted by an answer that came too late to trust, and whether it was
        # this daemon's old lease renewed (else a new acquisition).
        self._pending: tuple[int, bool] | None = None
        self._epoch_replaced = False  # the epoch key held the wrong type and was renamed
        self._guard = Guard(
            "scheduler lease",
            log,
            redis_outage(state.broker),
            cap=min(MAX_DELAY, max(MIN_RETRY, ttl / 3)),
        )

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
        await cancel_and_wait(task)
        token = self.token
        if token is not None:
            self._set(None)
            try:
                if await self.state.release(token):
                    log.info("scheduler lease released by %s", self.daemon_id)
            except Exception as exc:
                log.warning("could not release the scheduler lease: %s", one_line(exc))

    def lost(self) -> None:
        """Give up leadership at once (a fenced write or a renewal was refused)."""
        token = self.token
        if token is not None:
            silent = time.monotonic() - self._renewed
            if silent >= self.ttl:
                why = (
                    f"it expired: not renewed for {silent:.1f}s (Redis did not answer, or "
                    "this process was paused)"
                )
            else:
                why = "its key in Redis was gone or named another daemon"
            self._drop(token, why)
            self._wake.set()

    def _drop(self, token: int, why: str) -> None:
        self._previous, self._why = token, why
        self._set(None)

    def _set(self, token: int | None) -> None:
        if token != self.token:
            self.token = token
            for listener in self.listeners:
                listener()

    def _announce(self, token: int, renewed: bool) -> None:
        """Say that this daemon leads with ``token``: how it came back, when it had lost
        the lease (``renewed``: its old lease was still in Redis)."""
        previous, self._previous = self._previous, None
        replaced, self._epoch_replaced = self._epoch_replaced, False
        if previous is None:
            log.info("scheduler leader: %s (token %d)", self.daemon_id, token)
        elif renewed:
            log.info(
                "scheduler lease of %s was still valid in Redis (token %d); it leads again",
                self.daemon_id,
                token,
            )
        elif token <= previous and replaced:
            log.warning(
                "scheduler lease of %s was lost: the fencing epoch key held the wrong type "
                "and was renamed aside, so the epoch started again at %d (it was %d); it "
                "leads again",
                self.daemon_id,
                token,
                previous,
            )
        elif token <= previous:
            log.warning(
                "scheduler lease: Redis lost its data (the fencing epoch started again at "
                "%d, it was %d: Redis restarted empty or was flushed); %s leads again",
                token,
                previous,
                self.daemon_id,
            )
        else:
            log.warning(
                "scheduler lease of %s was lost: %s; it leads again (token %d)",
                self.daemon_id,
                self._why,
                token,
            )

    def key_renamed(self, exc: BaseException) -> None:
        """A scheduler script renamed keys of the wrong type aside (``exc`` says which)."""
        if ":epoch (" in str(exc):
            self._epoch_replaced = True

    def _taken(self) -> None:
        if self._previous is not None:
            log.warning(
                "scheduler lease of %s was lost: %s; another daemon leads now",
                self.daemon_id,
                self._why,
            )
            self._previous = None

    def _lead(self, token: int, sent: float, renewed: bool) -> float:
        """This daemon holds the lease with ``token`` since ``sent``: lead, unless the
        answer came too late to trust (then confirm it with a renewal at once)."""
        self._guard.ok()  # "Redis reachable again" before what the lease did
        if time.monotonic() >= sent + self.ttl * TRUST:
            self._pending = (token, renewed)
            return MIN_RETRY
        self._pending = None
        self._valid_until = sent + self.ttl * TRUST
        self._renewed = sent
        self._announce(token, renewed)
        self._set(token)
        return self.ttl / 3

    async def step(self) -> float:
        """One acquire-or-renew attempt; returns seconds until the next one."""
        period = self.ttl / 3
        sent = time.monotonic()
        token = self.token
        if token is None:
            # A lease this daemon held may still be its own in Redis: renew that first,
            # so that what happened to it can be told apart from Redis losing its data.
            pending, self._pending = self._pending, None
            held, renewed = pending if pending is not None else (self._previous, True)
            if held is not None and await self.state.renew(held, self.ttl):
                return self._lead(held, sent, renewed=renewed)
            ok, value = await self.state.acquire(self.ttl)
            if not ok:
                if value != -2:  # another daemon's id is in the key
                    self._taken()
                if value < 0:  # the lease just went away (-2), or has no TTL (-1)
                    return MIN_RETRY if value == -2 else period
                # Come back right when the holder's lease runs out, if that is sooner.
                return max(MIN_RETRY, min(period, value / 1000 + 0.001))
            return self._lead(value, sent, renewed=False)
        if await self.state.renew(token, self.ttl):
            self._valid_until = sent + self.ttl * TRUST
            self._renewed = sent
            return period
        self._guard.ok()
        self.lost()
        return MIN_RETRY

    async def run(self) -> None:
        """Acquire or renew until cancelled; any failure is logged once (Redis not
        answering: the daemon's one line) and retried with backoff."""
        guard = self._guard
        while True:
            try:
                delay = await self.step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = guard.failed(exc)
                self.key_renamed(exc)
            else:
                guard.ok()
            if self.token is not None and not self.is_leader:
                silent = time.monotonic() - self._renewed
                why = "Redis does not answer" if guard.failing else "Redis answers too slowly"
                log.warning(
                    "scheduler lease of %s not renewed for %.1fs (%s): it stops firing "
                    "until it leads again",
                    self.daemon_id,
                    silent,
                    why,
                )
                self._drop(self.token, f"it expired while {why}")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)

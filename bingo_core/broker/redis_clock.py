"""The Redis server's clock seen from this process: a rate-limited task's start time is
given by ``fetch.lua`` on Redis ``TIME`` and waited for on ``time.time()``.

Each call that reads ``TIME`` bounds the offset between the clocks: the script ran after
the call was sent and before its answer came, so ``sent - redis <= offset <= received -
redis``. The tightest bounds of the last one to two minutes are kept, so a slow call (the
process or Redis busy, a script loaded) does not move the estimate, and every process on
a host comes to the same offset within the quickest round trip it saw.
"""

from __future__ import annotations

#: Seconds a pair of bounds is kept (the clocks may drift apart slowly).
WINDOW = 60.0


class RedisClock:
    """``time.time()`` of a Redis ``TIME``, from the bounds the calls gave."""

    __slots__ = ("_hi", "_lo", "_prev", "_since")

    def __init__(self) -> None:
        self._lo = self._hi = 0.0
        self._prev: tuple[float, float] | None = None
        self._since: float | None = None

    def seen(self, redis_time: float, sent: float, received: float) -> None:
        """A call sent at ``sent`` whose script read ``redis_time`` answered at
        ``received`` (both ``time.time()``)."""
        lo, hi = sent - redis_time, received - redis_time
        if self._since is None or received - self._since > WINDOW:
            if self._since is not None:
                self._prev = (self._lo, self._hi)
            self._lo, self._hi, self._since = lo, hi, received
            return
        self._lo = max(self._lo, lo)
        self._hi = min(self._hi, hi)

    def local(self, redis_time: float) -> float:
        """``redis_time`` on this process's clock (as it is, before any call)."""
        if self._since is None:
            return redis_time
        lo, hi = self._lo, self._hi
        if self._prev is not None and max(lo, self._prev[0]) <= min(hi, self._prev[1]):
            lo, hi = max(lo, self._prev[0]), min(hi, self._prev[1])
        if lo > hi:  # the bounds cross: the clocks moved; the latest answer bounds it
            lo = hi
        return redis_time + (lo + hi) / 2

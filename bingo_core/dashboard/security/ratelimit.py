"""Wrong keys counted per client address: after :data:`MAX_FAILURES` in :data:`WINDOW`
seconds every key from that address is refused until the window has passed."""

from __future__ import annotations

import time
from collections import OrderedDict, deque

#: Wrong keys allowed per client address in :data:`WINDOW` seconds.
MAX_FAILURES = 5
WINDOW = 60.0


class RateLimiter:
    """Wrong keys per client address in a sliding window; bounded memory."""

    def __init__(self, limit: int = MAX_FAILURES, window: float = WINDOW, size: int = 10000):
        self.limit = limit
        self.window = window
        self.size = size
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, address: str, now: float) -> deque[float]:
        times = self._failures.get(address)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[address]
        return times

    def retry_after(self, address: str) -> float:
        """Seconds until ``address`` may try a key again (0: now)."""
        now = time.monotonic()
        times = self._recent(address, now)
        if len(times) < self.limit:
            return 0.0
        return max(1.0, times[-self.limit] + self.window - now)

    def failed(self, address: str) -> None:
        """Count one wrong key from ``address``."""
        times = self._failures.setdefault(address, deque())
        self._failures.move_to_end(address)
        times.append(time.monotonic())
        while len(times) > self.limit:
            times.popleft()
        while len(self._failures) > self.size:
            self._failures.popitem(last=False)

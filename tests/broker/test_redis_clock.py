"""``RedisClock``: Redis TIME on this process's clock, from the bounds each call gives (the
script ran after the call was sent and before its answer came)."""

from __future__ import annotations

import pytest

from bingo_core.broker.redis_clock import WINDOW, RedisClock

OFFSET = 3.25  # this clock is ahead of Redis by this much


def call(
    clock: RedisClock, sent: float, before: float, after: float, offset: float = OFFSET
) -> None:
    """A call sent at ``sent`` (this clock) whose script ran ``before`` s later and whose
    answer came ``after`` s after the script."""
    redis_time = sent + before - offset
    clock.seen(redis_time, sent, sent + before + after)


def test_the_quickest_calls_bound_the_offset_and_a_slow_one_does_not_move_it() -> None:
    clock = RedisClock()
    assert clock.local(100.0) == 100.0  # nothing seen yet
    call(clock, 1000.0, 0.020, 0.001)  # slow to send (a busy process): wide bounds
    assert clock.local(0.0) == pytest.approx(OFFSET - 0.0095)  # the middle of the bounds
    call(clock, 1001.0, 0.0002, 0.0003)
    call(clock, 1002.0, 0.0001, 0.0004)
    assert clock.local(0.0) == pytest.approx(OFFSET, abs=0.0002)
    call(clock, 1003.0, 0.0001, 0.050)  # a slow answer: the bounds stay as they were
    assert clock.local(0.0) == pytest.approx(OFFSET, abs=0.0002)


def test_the_bounds_age_out_so_a_clock_that_moves_is_followed() -> None:
    clock = RedisClock()
    call(clock, 1000.0, 0.0001, 0.0001)
    call(clock, 1000.0 + WINDOW + 1, 0.0001, 0.0001)  # a new window: the old one kept too
    assert clock.local(0.0) == pytest.approx(OFFSET, abs=0.0002)
    moved = OFFSET + 0.5  # Redis's clock went back half a second
    call(clock, 1000.0 + 2 * WINDOW + 2, 0.0001, 0.0001, moved)
    # the bounds of the windows cross: the newest window's bounds alone
    assert clock.local(0.0) == pytest.approx(moved, abs=0.0002)

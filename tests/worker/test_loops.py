"""The loops that survive (bingo_core/loops.py): backoff, one line per failure streak and
one per recovery, one line per Redis outage for the whole process, and a stop that ends
a loop even when a library swallowed the cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest
import redis.exceptions as rexc

from bingo_core import loops
from bingo_core.loops import (
    Backoff,
    Faults,
    Guard,
    Idle,
    Outage,
    SurvivingLoop,
    cancel_and_wait,
    one_line,
)

LOG = logging.getLogger("bingo.test.loops")


def messages(caplog: pytest.LogCaptureFixture, level: int = logging.INFO) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= level]


def test_backoff_doubles_from_a_tenth_of_a_second_up_to_five() -> None:
    backoff = Backoff()
    assert [backoff.next() for _ in range(8)] == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    backoff.reset()
    assert backoff.next() == 0.1
    capped = Backoff(cap=0.3)
    assert [capped.next() for _ in range(3)] == [0.1, 0.2, 0.3]


def test_one_line_drops_redis_script_suffix_and_newlines() -> None:
    exc = rexc.ResponseError(
        "WRONGTYPE key k holds a string\nexpected a list script: 0a1b2c, on @user_script:12."
    )
    assert one_line(exc) == "ResponseError: WRONGTYPE key k holds a string expected a list"
    assert one_line(ValueError()) == "ValueError"
    assert len(one_line(ValueError("x" * 2000), limit=50)) == 50


def test_a_failure_streak_is_one_line_and_its_end_another(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOG.name)
    guard = Guard("heartbeat", LOG)
    delays = [guard.failed(RuntimeError(f"boom {i}")) for i in range(4)]
    assert delays == [0.1, 0.2, 0.4, 0.8]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].getMessage() == (
        "heartbeat failed: RuntimeError: boom 0; retrying with backoff (up to 5s)"
    )
    assert errors[0].exc_info is None  # the traceback is at the debug level only
    assert all(r.exc_info for r in caplog.records if r.levelno == logging.DEBUG)
    guard.ok()
    guard.ok()
    recovered = [m for m in messages(caplog) if "recovered" in m]
    assert len(recovered) == 1 and recovered[0].startswith("heartbeat recovered after ")
    assert guard.failed(RuntimeError("again")) == 0.1  # a new streak starts over


def test_redis_not_answering_is_one_line_for_every_loop(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO)
    now = [100.0]
    monkeypatch.setattr(loops.time, "monotonic", lambda: now[0])
    outage = Outage("Redis", "127.0.0.1:6379", LOG)
    fetch, beat = Guard("fetch loop", LOG, outage), Guard("heartbeat", LOG, outage)
    down = rexc.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
    # A lone failure that the next attempt cures is not an outage.
    fetch.failed(down)
    now[0] += 0.1
    fetch.ok()
    assert messages(caplog) == []
    # Failures going on for longer are one line, whichever loops meet them.
    for _ in range(10):
        fetch.failed(down)
        beat.failed(down)
        now[0] += 0.1
    said = messages(caplog)
    assert len(said) == 1 and said[0].startswith("Redis at 127.0.0.1:6379 is not reachable")
    assert "Connection refused" in said[0]
    beat.ok()
    fetch.ok()
    said = messages(caplog)
    assert len(said) == 2 and said[1].startswith("Redis reachable again at 127.0.0.1:6379")


def test_faults_are_per_item(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOG.name)
    faults = Faults(LOG, lambda q, exc: f"queue {q}: {exc}", lambda q: f"queue {q}: again")
    faults.failed("jam", RuntimeError("WRONGTYPE key P:{jam}:pending"))
    faults.failed("jam", RuntimeError("WRONGTYPE key P:{jam}:pending"))
    assert not faults.ready("jam") and faults.ready("default")
    assert faults.failing() == ["jam"]
    retry = faults.next_retry()
    assert retry is not None and 0 < retry <= 0.2
    faults.ok("default")
    faults.ok("jam")
    said = messages(caplog)
    assert len(said) == 2 and faults.failing() == []
    assert said[0] == "queue jam: WRONGTYPE key P:{jam}:pending"
    assert said[1].startswith("queue jam: again (after ")


async def _swallowing() -> None:
    """A task that drops the first cancellation (as a library may), then sleeps on."""
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.sleep(10)
    await asyncio.sleep(10)


def test_cancel_and_wait_ends_a_task_that_swallowed_a_cancellation() -> None:
    async def main() -> None:
        task = asyncio.create_task(_swallowing())
        await asyncio.sleep(0)
        await asyncio.wait_for(cancel_and_wait(task, every=0.05), timeout=2)
        assert task.cancelled()

    asyncio.run(main())


def test_a_surviving_loop_goes_on_after_any_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOG.name)
    calls: list[str] = []

    async def step() -> float:
        calls.append("step")
        if len(calls) <= 3:
            raise KeyError("planted")
        if len(calls) == 4:
            return Idle(0.01)  # did not reach Redis: says nothing about recovery
        return 0.01

    async def main() -> None:
        loop = SurvivingLoop("test loop", step, LOG)
        loop.start()
        for _ in range(200):
            if len(calls) >= 6:
                break
            await asyncio.sleep(0.01)
        await loop.stop()
        assert loop.task is None

    asyncio.run(main())
    said = messages(caplog)
    assert said[0] == "test loop failed: KeyError: 'planted'; retrying with backoff (up to 5s)"
    assert len(said) == 2 and said[1].startswith("test loop recovered after ")
    assert len(calls) >= 6

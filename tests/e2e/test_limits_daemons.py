"""Concurrency and rate limits across real daemon processes on one Redis, judged from the
handlers' own start and end times: a concurrency limit shared by two and by three daemons
never exceeded, a rate
limit never exceeded in any window and used with a backlog, a SIGKILLed worker's slot
back within the lease, and no head-of-line blocking behind 10,000 held-back tasks."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from daemon_helpers import Daemon, cli, wait_until
from limits_helpers import (
    ENDS,
    STARTS,
    install,
    load,
    most_at_once,
    most_in_window,
    records,
)

from bingo_core.app import App

pytestmark = pytest.mark.slow


@pytest.fixture
def plugin_env(tmp_path: Path) -> dict[str, str]:
    return install(tmp_path / "plugin")


@pytest.fixture
def app(tmp_path: Path, config: Callable[..., Path], plugin_env: dict[str, str]) -> Iterator[App]:
    module = load(tmp_path / "plugin")
    made = App(config=str(config()), plugins=[module], entry_points=False)
    yield made
    made.close()


def records_of(url: str) -> list[dict[str, Any]]:
    r = redis.Redis.from_url(url)
    try:
        return records(r, STARTS)
    finally:
        r.close()


def start(
    daemons: Callable[..., Daemon], config: Callable[..., Path], env: dict[str, str], **worker: Any
) -> Daemon:
    cfg = config(worker={"concurrency": 4, "lease": "2s", "recoverInterval": "200ms", **worker})
    return daemons(cfg, env=env)


@pytest.mark.parametrize("count", [2, 3])
def test_daemons_share_one_concurrency_limit(
    daemons: Any, config: Any, plugin_env: dict[str, str], app: App, redis_url: str, count: int
) -> None:
    started = [start(daemons, config, plugin_env) for _ in range(count)]
    app.client.enqueue_many(
        [("lim:conc", {"url": redis_url, "sleep": 0.3, "n": i}) for i in range(16)]
    )
    app.client.enqueue_many(
        [("lim:free", {"url": redis_url, "sleep": 0.3, "n": i}) for i in range(6)]
    )
    r = redis.Redis.from_url(redis_url)
    try:
        wait_until(lambda: r.llen(ENDS) >= 22, 30, "every task ended")
        done = records(r, ENDS)
    finally:
        r.close()
    limited = [d for d in done if d["type"] == "lim:conc"]
    free = [d for d in done if d["type"] == "lim:free"]
    assert len(limited) == 16 and len(free) == 6
    assert most_at_once(limited) == 2  # never more, and the limit was used
    assert {d["pid"] for d in limited} <= {d.proc.pid for d in started}
    assert len({d["pid"] for d in limited}) >= 2  # the slots were shared across daemons
    # The unlimited tasks were not held up behind the limited ones.
    first_start = min(d["start"] for d in done)
    assert max(d["start"] for d in free) - first_start < 1.0
    span = max(d["end"] for d in limited) - min(d["start"] for d in limited)
    assert span < 16 * 0.3 / 2 + 1.5, f"2 slots for 16 tasks of 0.3s took {span:.2f}s"


def test_rate_limit_holds_in_every_window_and_is_used(
    daemons: Any, config: Any, plugin_env: dict[str, str], app: App, redis_url: str
) -> None:
    start(daemons, config, plugin_env)
    start(daemons, config, plugin_env)
    app.client.enqueue_many([("lim:rate", {"url": redis_url, "n": i}) for i in range(45)])
    r = redis.Redis.from_url(redis_url)
    try:
        wait_until(lambda: r.llen(ENDS) >= 45, 30, "every task ended")
        starts = [d["start"] for d in records(r, STARTS)]
    finally:
        r.close()
    assert most_in_window(starts, 1.0) <= 11  # 10/s, one task of slack
    first = min(starts)
    used = sum(first <= t < first + 4.0 for t in starts)
    assert used >= 36, f"{used} starts in the first 4 s of a backlog at 10/s"


def test_a_rate_limit_holds_at_the_handlers_start_times_across_four_processes(
    daemons: Any, config: Any, plugin_env: dict[str, str], app: App, redis_url: str
) -> None:
    """50/s over four daemons with a backlog: at most 51 handler starts in any one-second
    window (the handlers' own clocks), and at least 90 % of the limit used."""
    for _ in range(4):
        start(daemons, config, plugin_env, concurrency=20)
    tasks = 350
    app.client.enqueue_many([("lim:fast", {"url": redis_url, "n": i}) for i in range(tasks)])
    r = redis.Redis.from_url(redis_url)
    try:
        wait_until(lambda: r.llen(ENDS) >= tasks, 40, "every task ended")
        starts = [d["start"] for d in records(r, STARTS)]
    finally:
        r.close()
    assert len({d["pid"] for d in records_of(redis_url)}) >= 2  # shared by the daemons
    top = most_in_window(starts, 1.0)
    first = min(starts)
    used = sum(first <= t < first + 6.0 for t in starts)
    print(f"at most {top} starts in any 1 s window; {used} in the first 6 s at 50/s")
    assert top <= 51, f"{top} handler starts in one 1 s window at 50/s"
    assert used >= 270, f"{used} starts in the first 6 s of a backlog at 50/s"


def test_a_killed_workers_slot_comes_back_within_the_lease(
    daemons: Any, config: Any, plugin_env: dict[str, str], app: App, redis_url: str
) -> None:
    one = start(daemons, config, plugin_env)
    two = start(daemons, config, plugin_env)
    by_pid = {one.proc.pid: one, two.proc.pid: two}
    r = redis.Redis.from_url(redis_url)
    try:
        app.client.enqueue("lim:one", {"url": redis_url, "sleep": 60, "n": 1})
        wait_until(lambda: r.llen(STARTS) >= 1, 10, "the long task started")
        app.client.enqueue("lim:one", {"url": redis_url, "sleep": 0, "n": 2})
        time.sleep(0.5)
        assert r.llen(STARTS) == 1  # held back: the slot is taken
        assert app.inspector.stats(["default"])[0].throttled == 1
        (holder,) = records(r, STARTS)
        os.kill(holder["pid"], signal.SIGKILL)
        killed = time.time()
        by_pid[holder["pid"]].proc.wait()
        wait_until(lambda: r.llen(STARTS) >= 2, 10, "a task of the type started again")
        again = records(r, STARTS)[1]
    finally:
        r.close()
    assert again["pid"] != holder["pid"]
    # The lease is 2 s; the other daemon's wake-up comes when it expires.
    assert again["start"] - killed < 2.0 + 1.0, f"slot back after {again['start'] - killed:.2f}s"


def test_no_head_of_line_blocking_behind_held_back_tasks(
    daemons: Any, config: Any, plugin_env: dict[str, str], app: App, redis_url: str
) -> None:
    start(daemons, config, plugin_env)
    r = redis.Redis.from_url(redis_url)
    try:
        app.client.enqueue_many(
            [("lim:one", {"url": redis_url, "sleep": 30, "n": i}) for i in range(10_000)]
        )
        behind = time.time()  # right behind them, while they are still pending
        app.client.enqueue("lim:free", {"url": redis_url, "n": -1})
        wait_until(lambda: r.llen(STARTS) >= 2, 5, "the unrelated task started")
        (started,) = [d for d in records(r, STARTS) if d["type"] == "lim:free"]
        wait_until(lambda: app.inspector.stats(["default"])[0].pending == 0, 20, "all taken")
        stats = app.inspector.stats(["default"])[0]
        assert stats.active == 1 and stats.throttled == 9_999
        (row,) = app.inspector.throttled(["default"])
        assert (row.type, row.key, row.held) == ("lim:one", None, 9_999)
        shown = cli(config(), "stats").stdout
        assert re.search(r"^default\s+0\s+9999\s+1\s", shown, re.M), shown  # pending, held
        assert re.search(r"^default\s+lim:one\s+9999\s+[\d.]+s$", shown, re.M), shown
        enqueued = time.time()  # now that they are all held back
        app.client.enqueue("lim:free", {"url": redis_url, "n": -2})
        wait_until(lambda: r.llen(STARTS) >= 3, 5, "the second unrelated task started")
        later = records(r, STARTS)[2]
    finally:
        r.close()
    print(
        f"unrelated task started {started['start'] - behind:.3f}s after enqueue right "
        f"behind 10,000 held-back ones, {later['start'] - enqueued:.3f}s once all are held"
    )
    assert started["start"] - behind < 1.0
    assert later["start"] - enqueued < 0.1

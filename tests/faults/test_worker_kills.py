"""10,000 tasks across two daemons of two worker processes each, worker processes
SIGKILLed at random moments (their daemon starts new ones): every task completes at least
once, and the duplicates at-least-once allows are counted."""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from typing import Any

import pytest
import redis
from daemon_helpers import wait_until

from bingo_core.app import App

from .conftest import AofRedis, Processes, worker_pids

pytestmark = pytest.mark.slow

N = 10_000
RECORD = "faults:record"


def test_sigkilled_workers_lose_no_task(
    make_config: Any, procs: Processes, aof_redis: AofRedis, rclient: redis.Redis
) -> None:
    cfg = make_config(
        worker={
            "processes": 2,
            "concurrency": 16,
            "lease": "2s",
            "recoverInterval": "200ms",
        },
    )
    first, second = procs.start(cfg), procs.start(cfg)
    daemon_pids = {first.proc.pid, second.proc.pid}
    wait_until(lambda: rclient.zcard("bingo:servers") >= 4, 20, "four worker processes")

    app = App(config=str(cfg))
    try:
        items = [
            (
                "test:redis-record",
                {"url": aof_redis.url, "key": RECORD, "value": str(i)},
                # Each recovery of a killed worker's task counts a retry: allow many, so a
                # task caught in several kills is not archived (3 retries by default).
                {"max_retry": 50},
            )
            for i in range(N)
        ]
        started = time.monotonic()
        app.client.enqueue_many(items)
    finally:
        app.close()

    rng = random.Random(os.getpid())
    kills = 0
    while rclient.llen(RECORD) < N * 0.9 and time.monotonic() - started < 40:
        time.sleep(rng.uniform(0.05, 0.3))
        pids = worker_pids(rclient, daemon_pids)
        procs.children.update(pids)
        if pids:
            victim = rng.choice(pids)
            try:
                os.kill(victim, signal.SIGKILL)
                kills += 1
            except ProcessLookupError:
                pass

    def all_done() -> bool:
        procs.children.update(worker_pids(rclient, daemon_pids))
        return (
            len(set(rclient.lrange(RECORD, 0, -1))) == N
            and rclient.llen("bingo:{default}:pending") == 0
            and rclient.zcard("bingo:{default}:lease") == 0
        )

    wait_until(all_done, 45, f"all {N} tasks recorded and the queue empty")
    elapsed = time.monotonic() - started
    counts = Counter(rclient.lrange(RECORD, 0, -1))
    duplicates = sum(c - 1 for c in counts.values())
    print(
        f"{N} tasks, {kills} worker processes SIGKILLed, {duplicates} duplicate runs, "
        f"{elapsed:.1f}s"
    )
    assert set(counts) == {str(i) for i in range(N)}
    assert kills >= 3, "the workers were too fast to be killed"
    assert rclient.zcard("bingo:{default}:archived") == 0
    for d in (first, second):
        assert d.proc.poll() is None, d.log
        assert "Traceback" not in d.log, d.log
    restarted = sum(d.count("starting a new one") for d in (first, second))
    assert restarted >= 1, first.log + second.log
    assert first.stop() == 0 and second.stop() == 0

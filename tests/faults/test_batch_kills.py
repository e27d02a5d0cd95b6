"""5,000 batch items enqueued while two daemons of two worker processes each run their
batches, worker processes SIGKILLed at random moments: every item is handled, each in
exactly one batch (a batch run again after a kill holds the same items under the same
batch task id), and nothing stays held."""

from __future__ import annotations

import os
import random
import signal
import time
from collections import defaultdict
from typing import Any

import pytest
import redis
from daemon_helpers import wait_until

from bingo_core.app import App

from .conftest import AofRedis, Processes, worker_pids

pytestmark = pytest.mark.slow

N = 5_000
GROUPS = 8
RECORD = "faults:batches"


def test_sigkilled_workers_and_batches(
    make_config: Any, procs: Processes, aof_redis: AofRedis, rclient: redis.Redis
) -> None:
    cfg = make_config(
        worker={"processes": 2, "concurrency": 4, "lease": "2s", "recoverInterval": "200ms"},
    )
    first, second = procs.start(cfg), procs.start(cfg)
    daemon_pids = {first.proc.pid, second.proc.pid}
    wait_until(lambda: rclient.zcard("bingo:servers") >= 4, 20, "four worker processes")

    rng = random.Random(os.getpid())
    kills = 0

    def kill_one() -> None:
        nonlocal kills
        pids = worker_pids(rclient, daemon_pids)
        procs.children.update(pids)
        if pids:
            try:
                os.kill(rng.choice(pids), signal.SIGKILL)
                kills += 1
            except ProcessLookupError:
                pass

    def item(i: int) -> tuple[str, dict[str, Any]]:
        payload = {
            "url": aof_redis.url,
            "key": RECORD,
            "group": f"g{i % GROUPS}",
            "value": str(i),
            "seconds": 0.4,
        }
        return ("test:batch-record", payload)

    app = App(config=str(cfg))
    started = time.monotonic()
    next_kill = started + rng.uniform(0.05, 0.3)
    try:
        for start in range(0, N, 50):  # enqueued while the workers run and die
            app.client.enqueue_many([item(i) for i in range(start, min(N, start + 50))])
            time.sleep(0.02)
            if time.monotonic() >= next_kill:
                kill_one()
                next_kill = time.monotonic() + rng.uniform(0.05, 0.3)
    finally:
        app.close()
    while rclient.llen(RECORD) < N * 0.9 and time.monotonic() - started < 60:
        time.sleep(rng.uniform(0.05, 0.3))
        kill_one()

    def all_done() -> bool:
        procs.children.update(worker_pids(rclient, daemon_pids))
        seen = {r.split(" ", 1)[1] for r in rclient.lrange(RECORD, 0, -1)}
        return (
            len(seen) == N
            and rclient.zcard("bingo:{default}:batches") == 0
            and rclient.llen("bingo:{default}:pending") == 0
            and rclient.zcard("bingo:{default}:lease") == 0
        )

    wait_until(all_done, 60, f"all {N} items recorded and nothing held")
    batches_of: dict[str, set[str]] = defaultdict(set)
    sizes: dict[str, set[str]] = defaultdict(set)
    records = rclient.lrange(RECORD, 0, -1)
    for record in records:
        batch_id, value = record.split(" ", 1)
        batches_of[value].add(batch_id)
        sizes[batch_id].add(value)
    assert set(batches_of) == {str(i) for i in range(N)}
    twice = {v: b for v, b in batches_of.items() if len(b) != 1}
    assert not twice, f"items in more than one batch: {list(twice.items())[:5]}"
    assert max(len(v) for v in sizes.values()) <= 25
    groups = {int(v) % GROUPS for b in sizes.values() for v in b}
    assert groups == set(range(GROUPS))
    for values in sizes.values():  # a batch holds one group's items
        assert len({int(v) % GROUPS for v in values}) == 1
    starts = rclient.lrange(RECORD + ":starts", 0, -1)
    assert set(starts) == set(sizes)
    reruns = len(starts) - len(set(starts))
    print(
        f"{N} items in {len(sizes)} batches, {kills} worker processes SIGKILLed, "
        f"{reruns} batches started again after a kill, "
        f"{len(records) - N} items recorded again by a batch run again"
    )
    assert kills >= 3, "the workers were too fast to be killed"
    assert reruns >= 1, "no batch was caught by a kill"
    assert rclient.zcard("bingo:{default}:archived") == 0
    for d in (first, second):
        assert d.proc.poll() is None, d.log
        assert "Traceback" not in d.log, d.log
    assert first.stop() == 0 and second.stop() == 0

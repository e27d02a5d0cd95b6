"""Workflows whose steps live in three queues (a in one, a group spread over all three,
c in the third) across two daemons of two worker processes each, worker processes
SIGKILLed at random moments, between a step's end and the delivery of what its queue
tells the others too: every workflow completes exactly once (the home queue's outcome
count), no step started before the steps it waits for had completed, no on_failure ran,
and every outbox is empty at the end."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import redis
from daemon_helpers import wait_until

import bingo_core as bingo
from bingo_core.app import App
from bingo_core.workflow import Step

from .conftest import Killer, Processes, worker_pids

pytestmark = pytest.mark.slow

FLOWS = 120
WIDTH = 6
QUEUES = ("default", "red", "blue")


def test_sigkilled_workers_and_workflows_across_queues(
    make_config: Any, procs: Processes, rclient: redis.Redis, tmp_path: Path
) -> None:
    cfg = make_config(
        worker={
            "processes": 2,
            "concurrency": 16,
            "lease": "2s",
            "recoverInterval": "200ms",
            "queues": dict.fromkeys(QUEUES, 1),
        },
    )
    first, second = procs.start(cfg), procs.start(cfg)
    daemon_pids = {first.proc.pid, second.proc.pid}

    wait_until(lambda: rclient.zcard("bingo:servers") >= 4, 20, "four worker processes")
    out = tmp_path / "record.txt"
    out.touch()

    def step(value: str, queue: str) -> Step:
        payload = {"path": str(out), "seconds": 0.5, "value": value}
        return bingo.step("test:sync-sleep", payload, max_retry=50, queue=queue)

    def runs() -> list[str]:
        return out.read_text().splitlines()

    killer = Killer(rclient, procs, daemon_pids)
    app = App(config=str(cfg))
    try:
        ids = []
        for n in range(FLOWS):
            killer.due()  # enqueued while the workers run and die
            flow = bingo.chain(
                step(f"{n}:a", "red"),
                bingo.group(step(f"{n}:m{i}", QUEUES[i % 3]) for i in range(WIDTH)),
                step(f"{n}:c", "blue"),
            )
            failed = step(f"{n}:failed", "default")
            ids.append(app.client.enqueue_workflow(flow, on_failure=failed).id)
    finally:
        app.close()

    total = FLOWS * (WIDTH + 2)
    killer.until(lambda: len(runs()) >= total * 0.9, 30)

    def all_done() -> bool:
        procs.children.update(worker_pids(rclient, daemon_pids))
        done = rclient.hget("bingo:{red}:workflows:outcomes", "completed")
        return int(done or 0) >= FLOWS

    wait_until(all_done, 60, f"all {FLOWS} workflows completed")
    wait_until(
        lambda: all(rclient.hlen(f"bingo:{{{q}}}:relay") == 0 for q in QUEUES),
        20,
        "every outbox delivered",
    )
    time.sleep(0.5)
    assert rclient.hgetall("bingo:{red}:workflows:outcomes") == {"completed": str(FLOWS)}
    for wf in ids:
        assert rclient.hget(f"bingo:{{red}}:wf:{wf}", "state") == "completed"
    assert all(rclient.hlen(f"bingo:{{{q}}}:workflows:away") == 0 for q in QUEUES)
    records = runs()
    firsts: dict[str, int] = {}
    lasts: dict[str, int] = {}
    for at, value in enumerate(records):
        firsts.setdefault(value, at)
        lasts[value] = at
    for n in range(FLOWS):
        members = [f"{n}:m{i}" for i in range(WIDTH)]
        assert all(firsts[m] > lasts[f"{n}:a"] for m in members), n
        assert firsts[f"{n}:c"] > max(lasts[m] for m in members), n
        assert f"{n}:failed" not in firsts
    print(f"{FLOWS} workflows, {killer.kills} worker processes SIGKILLed, {len(records)} runs")
    assert killer.kills >= 3, "the workers were too fast to be killed"
    for d in (first, second):
        assert d.proc.poll() is None, d.log
    assert first.stop() == 0 and second.stop() == 0

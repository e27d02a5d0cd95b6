"""200 workflows of a → group(10) → c across two daemons of two worker processes each,
worker processes SIGKILLed at random moments: every workflow completes, exactly once
(the per queue outcome count), and no step started before the steps it waits for had
completed (each step appends its value when it runs: a step's first record comes after
the last record of every step it waits for)."""

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

FLOWS = 200
WIDTH = 10


def test_sigkilled_workers_and_workflows(
    make_config: Any, procs: Processes, rclient: redis.Redis, tmp_path: Path
) -> None:
    cfg = make_config(
        worker={"processes": 2, "concurrency": 16, "lease": "2s", "recoverInterval": "200ms"},
    )
    first, second = procs.start(cfg), procs.start(cfg)
    daemon_pids = {first.proc.pid, second.proc.pid}
    wait_until(lambda: rclient.zcard("bingo:servers") >= 4, 20, "four worker processes")

    def step(value: str) -> Step:
        payload = {"path": str(out), "seconds": 0.1, "value": value}
        return bingo.step("test:sync-sleep", payload, max_retry=50)

    out = tmp_path / "record.txt"
    out.touch()

    def runs() -> list[str]:
        return out.read_text().splitlines()

    killer = Killer(rclient, procs, daemon_pids)
    app = App(config=str(cfg))
    try:
        ids = []
        for n in range(FLOWS):
            killer.due()  # enqueued while the workers run and die
            flow = bingo.chain(
                step(f"{n}:a"),
                bingo.group(step(f"{n}:m{i}") for i in range(WIDTH)),
                step(f"{n}:c"),
            )
            ids.append(app.client.enqueue_workflow(flow, on_failure=step(f"{n}:failed")).id)
    finally:
        app.close()

    total = FLOWS * (WIDTH + 2)
    killer.until(lambda: len(runs()) >= total * 0.9, 40)

    def all_done() -> bool:
        procs.children.update(worker_pids(rclient, daemon_pids))
        done = rclient.hget("bingo:{default}:workflows:outcomes", "completed")
        return int(done or 0) >= FLOWS

    wait_until(all_done, 60, f"all {FLOWS} workflows completed")
    time.sleep(0.5)
    outcomes = rclient.hgetall("bingo:{default}:workflows:outcomes")
    assert outcomes == {"completed": str(FLOWS)}
    for wf in ids:
        assert rclient.hget(f"bingo:{{default}}:wf:{wf}", "state") == "completed"
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

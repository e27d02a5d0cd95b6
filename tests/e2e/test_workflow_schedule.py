"""A real daemon (scheduler and worker) whose config entry starts a workflow every second:
each fire starts one workflow, every step of it runs once, and ``cron list`` shows the
entry as the workflow it starts."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import cli

from bingo_core.broker.keys import Keys

pytestmark = pytest.mark.slow

KEYS = Keys("bingo")
TICK_ID = re.compile(r"wf-tick-[0-9a-f]{16}-(\d+)")


def test_a_daemon_starts_the_workflow_once_per_fire(
    config: Any, daemons: Any, tmp_path: Path, redis_client: Any
) -> None:
    out = str(tmp_path / "out.txt")

    def record(value: str) -> dict[str, Any]:
        return {"type": "test:record", "payload": {"path": out, "value": value}}

    flow = {"chain": [record("extract"), {"group": [record("t1"), record("t2")]}, record("load")]}
    cfg = config(
        scheduler={"enabled": True, "leaderLease": "2s"},
        schedules=[{"name": "etl", "spec": "* * * * * *", "workflow": flow}],
    )
    hooks = tmp_path / "hooks.log"
    d = daemons(cfg, env={"BINGO_TEST_HOOK_LOG": str(hooks)})
    q = KEYS.queue("default")
    deadline = time.monotonic() + 15
    while int(redis_client.hget(q.workflow_outcomes, "completed") or 0) < 3:
        assert time.monotonic() < deadline, f"three workflows did not complete:\n{d.log}"
        time.sleep(0.05)
    listed = json.loads(cli(cfg, "cron", "list", "--json").stdout)
    d.proc.send_signal(signal.SIGTERM)
    assert d.proc.wait(20) == 0, d.log

    (entry,) = [e for e in listed["entries"] if e["key"] == "config|etl"]
    assert entry["type"] == "workflow: test:record -> group(test:record x2) -> test:record"

    started = {
        int(TICK_ID.fullmatch(wf).group(1)): wf for wf in redis_client.zrange(q.workflows, 0, -1)
    }
    seconds = sorted(ms // 1000 for ms in started)
    assert all(ms % 1000 == 0 for ms in started)
    assert seconds == list(range(seconds[0], seconds[-1] + 1)), "a fire started no workflow"
    succeeded = [
        line.split()[2] for line in hooks.read_text().splitlines() if line.startswith("succeeded")
    ]
    assert len(succeeded) == len(set(succeeded)), "a step ran twice"
    completed = 0
    for wf in started.values():
        steps = redis_client.lrange(q.workflow_steps(wf), 0, -1)
        assert len(steps) == 4
        ran = [s for s in steps if s in succeeded]
        if redis_client.hget(q.workflow(wf), "state") == "completed":
            completed += 1
            assert ran == steps
    assert completed >= 3
    # Every step that ran belongs to a tick's workflow (none started twice or elsewhere).
    owned = {s for wf in started.values() for s in redis_client.lrange(q.workflow_steps(wf), 0, -1)}
    assert set(succeeded) <= owned

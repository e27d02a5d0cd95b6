"""A daemon frozen (SIGSTOP) past its worker and leader leases, then resumed (SIGCONT):
the other daemon took over the schedule and the frozen one's task; once resumed, the stale
daemon neither fires a tick twice (fencing) nor acks the task it no longer holds."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from daemon_helpers import Daemon, cli, wait_lines, wait_until

from bingo_core.app import App

from .conftest import Processes, check_ticks

pytestmark = pytest.mark.slow

LATE = "finished after their lease expired"


def server_id(r: redis.Redis, d: Daemon, timeout: float = 10) -> str:
    """The worker server id of daemon ``d`` (its first heartbeat may follow "worker ready")."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for key in r.keys("bingo:server:*"):
            raw = r.get(key)
            if raw and json.loads(raw)["pid"] == d.proc.pid:
                return str(key).removeprefix("bingo:server:")
        time.sleep(0.05)
    raise AssertionError(f"no worker server registered for pid {d.proc.pid}")


def history(cfg: Path) -> list[dict[str, Any]]:
    data = json.loads(cli(cfg, "cron", "list", "--json", "--history", "100").stdout)
    (entry,) = [e for e in data["entries"] if e["name"] == "every-second"]
    items: list[dict[str, Any]] = entry["history"]
    return items


def test_frozen_daemon_is_fenced_after_sigcont(
    make_config: Any, procs: Processes, rclient: redis.Redis, tmp_path: Path
) -> None:
    ticks_out = tmp_path / "tick.out"
    cfg = make_config(
        worker={"concurrency": 4, "lease": "2s", "recoverInterval": "200ms"},
        scheduler={"enabled": True, "leaderLease": "2s"},
        schedules=[
            {
                "name": "every-second",
                "spec": "@every 1s",
                "type": "test:record",
                "payload": {"path": str(ticks_out), "value": "tick"},
            }
        ],
    )
    stale = procs.start(cfg)
    stale.wait_for("scheduler leader:")
    stale_id = server_id(rclient, stale)
    out = tmp_path / "slow.out"
    app = App(config=str(cfg))
    try:
        info = app.client.enqueue(
            "test:sleep", {"path": str(out), "value": "slow", "seconds": 6}, retention=300
        )
    finally:
        app.close()
    task = f"bingo:{{default}}:t:{info.id}"
    wait_until(lambda: rclient.hget(task, "worker") == stale_id, 5, "the task runs on the first")
    fresh = procs.start(cfg)
    fresh_id = server_id(rclient, fresh)
    assert rclient.hget(task, "state") == "active" and not out.exists()

    stale.signal(signal.SIGSTOP)
    frozen = time.monotonic()
    try:
        fresh.wait_for("scheduler leader:", timeout=6)
        wait_until(lambda: rclient.hget(task, "worker") == fresh_id, 6, "the task recovered")
        time.sleep(max(0.0, 5 - (time.monotonic() - frozen)))  # well past both leases
    finally:
        stale.signal(signal.SIGCONT)
    mark = len(stale.lines)

    # Resumed: its run of the task ends at once (the sleep is over), its ack is refused.
    stale.wait_for(LATE, timeout=10)
    wait_until(lambda: rclient.hget(task, "state") == "completed", 15, "the task completed")
    assert wait_lines(out, 2) == ["slow", "slow"]  # once by each: at-least-once
    assert rclient.hget(task, "worker") == fresh_id
    assert rclient.zscore("bingo:{default}:completed", info.id) is not None
    late = [line for line in stale.lines if LATE in line]
    assert len(late) == 1 and info.id in late[0], stale.log

    # The stale leader learns it lost the lease; ticks stay once each.
    wait_until(lambda: "another daemon leads now" in stale.log, 10, "the stale leader steps down")
    time.sleep(2)
    ticks = check_ticks(history(cfg))
    print(f"{len(ticks)} ticks, each once; stale daemon after SIGCONT:")
    print("\n".join(stale.since(mark)))
    for d in (stale, fresh):
        assert "Traceback" not in d.log, d.log
        assert d.proc.poll() is None, d.log
    assert stale.stop() == 0 and fresh.stop() == 0

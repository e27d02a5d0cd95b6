"""The scheduler leader SIGKILLed while the workers are busy: the other daemon leads
within the lease, and an ``@every 1s`` schedule enqueues each tick exactly once, with no
tick lost in the takeover (the late ones fire within the misfire grace)."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import Daemon, cli, wait_until

from .conftest import Processes, check_ticks

pytestmark = pytest.mark.slow

LEASE = 2.0


def schedule(path: Path) -> list[dict[str, Any]]:
    return [
        {
            "name": "every-second",
            "spec": "@every 1s",
            "type": "test:record",
            "payload": {"path": str(path), "value": "tick"},
        }
    ]


def history(cfg: Path) -> list[dict[str, Any]]:
    data = json.loads(cli(cfg, "cron", "list", "--json", "--history", "100").stdout)
    (entry,) = [e for e in data["entries"] if e["name"] == "every-second"]
    items: list[dict[str, Any]] = entry["history"]
    return items


def leaders(daemons: list[Daemon]) -> list[Daemon]:
    return [d for d in daemons if d.count("scheduler leader:")]


def test_leader_sigkilled_while_workers_are_busy(
    make_config: Any, procs: Processes, tmp_path: Path
) -> None:
    out = tmp_path / "tick.out"
    cfg = make_config(
        worker={"concurrency": 4, "lease": "2s", "recoverInterval": "200ms"},
        scheduler={"enabled": True, "leaderLease": "2s"},
        schedules=schedule(out),
    )
    both = [procs.start(cfg), procs.start(cfg)]
    wait_until(lambda: len(leaders(both)) == 1, 10, "one leader")
    (leader,) = leaders(both)
    (other,) = [d for d in both if d is not leader]
    busy = tmp_path / "busy.out"
    for n in range(6):  # three slow tasks per daemon keep the workers busy
        payload = json.dumps({"path": str(busy), "value": str(n), "seconds": 4})
        cli(cfg, "enqueue", "test:sleep", "--payload", payload)
    wait_until(lambda: len(history(cfg)) >= 3, 10, "three ticks before the kill")

    leader.signal(signal.SIGKILL)
    leader.proc.wait(5)
    killed = time.monotonic()
    other.wait_for("scheduler leader:", timeout=LEASE + 3)
    took = time.monotonic() - killed
    assert took <= LEASE + 1.5, f"takeover after {took:.1f}s"
    before = len(history(cfg))
    wait_until(lambda: len(history(cfg)) >= before + 3, 10, "ticks after the takeover")

    items = history(cfg)
    ticks = check_ticks(items)
    print(f"takeover in {took:.2f}s, {len(ticks)} ticks, each once, none lost")
    assert "Traceback" not in other.log, other.log
    # Every tick ran (at least once: the killed daemon may have run one it had fetched).
    wait_until(lambda: len(out.read_text().splitlines()) >= len(ticks) - 1, 5, "ticks ran")
    assert other.stop() == 0

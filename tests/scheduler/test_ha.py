"""High availability with real processes: three daemons run the scheduler on one Redis,
the leader is SIGKILLed, another takes over within the lease TTL, and every tick of a
one-second entry is enqueued exactly once, the ones due during the gap fired late."""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from daemon_helpers import Daemon

from bingo_core.broker.keys import Keys

BIN = str(Path(sys.executable).with_name("bingo-scheduler"))
KEYS = Keys("bingo")
ENTRY = "config|every-second"
LEASE = 2.0

pytestmark = pytest.mark.slow


def scheduler_daemon(config: Path) -> Daemon:
    """A daemon running only the scheduler, with only the test plugin loaded."""
    return Daemon(config, "--no-worker", "--no-dashboard", env={"BINGO_PLUGINS": "testplug"})


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for d in started:
        d.close()


def write_config(tmp_path: Path, redis_url: str) -> Path:
    cfg: dict[str, Any] = {
        "server": {"timezone": "UTC"},
        "redis": {"url": redis_url},
        "database": {"url": f"sqlite:///{tmp_path / 'bingo.db'}"},
        "log": {"level": "info", "console": True, "path": ""},
        "scheduler": {"leaderLease": f"{LEASE:g}s", "syncInterval": "1s"},
        "schedules": [
            {
                "name": "every-second",
                "spec": "* * * * * *",
                "type": "test:record",
                "payload": {"path": str(tmp_path / "out.txt"), "value": "tick"},
            }
        ],
    }
    path = tmp_path / "bingo.yaml"
    path.write_text(json.dumps(cfg))
    return path


def leader_id(client: redis.Redis) -> str | None:
    value = client.get(KEYS.scheduler.leader)
    return None if value is None else str(value)


def wait_leader(client: redis.Redis, other_than: str | None, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        found = leader_id(client)
        if found is not None and found != other_than:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"no new leader within {timeout}s (had {other_than})")
        time.sleep(0.01)


def test_three_daemons_leader_killed_each_tick_once(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis, daemons: list[Daemon]
) -> None:
    config = write_config(tmp_path, redis_url)
    daemons += [scheduler_daemon(config) for _ in range(3)]
    for d in daemons:
        d.wait_for("bingo-scheduler started")
    first = wait_leader(redis_client, None, 5)
    by_pid = {d.proc.pid: d for d in daemons}
    old = by_pid[int(first.split(":")[-2])]
    time.sleep(3.2)

    old.proc.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    old.proc.wait()
    second = wait_leader(redis_client, first, LEASE + 2)
    took = time.monotonic() - killed_at
    new = by_pid[int(second.split(":")[-2])]
    assert new is not old
    time.sleep(3.2)

    rest = [d for d in daemons if d is not old]
    for d in rest:
        d.proc.send_signal(signal.SIGTERM)
    for d in rest:
        assert d.proc.wait(20) == 0, d.log
    # Within the lease TTL after the kill (plus the follower's retry step and slack).
    assert took <= LEASE + 0.5, f"takeover took {took:.2f}s"

    # Every tick dedupe key names one pending task, every pending task has one tick,
    # and the ticks form an unbroken run of seconds across the kill.
    q = KEYS.queue("default")
    prefix = q.tick(ENTRY, 0)[:-1]
    ticks = {
        int(k[len(prefix) :]): redis_client.get(k) for k in redis_client.scan_iter(prefix + "*")
    }
    ids = redis_client.lrange(q.pending, 0, -1)
    msgs = {i: json.loads(redis_client.hget(q.task(i), "msg")) for i in ids}
    assert len(ids) == len(set(ids)) == len(ticks)
    assert sorted(ticks.values()) == sorted(ids)
    assert all(m["source"] == ENTRY and m["type"] == "test:record" for m in msgs.values())
    seconds = sorted(ms // 1000 for ms in ticks)
    assert all(ms % 1000 == 0 for ms in ticks)
    assert seconds == list(range(seconds[0], seconds[-1] + 1)), "a tick is missing"
    assert len(seconds) >= 7
    for ms, task_id in ticks.items():
        assert msgs[task_id]["enqueued_at"] >= ms / 1000 - 0.001

    # Both leaders fired; the new one fired the tick(s) due while nobody led, late.
    history = [json.loads(h) for h in redis_client.lrange(KEYS.scheduler.history(ENTRY), 0, -1)]
    assert sorted(h["tick"] for h in history) == [float(s) for s in seconds]
    late = [h for h in history if h["lateness"] > 0.3]
    assert late, history
    assert all(h["lateness"] < LEASE + 1 for h in history)
    assert "missed while no leader fired them" in new.log
    entry = redis_client.hgetall(KEYS.scheduler.entry(ENTRY))
    assert entry.get("missed", "0") == "0"

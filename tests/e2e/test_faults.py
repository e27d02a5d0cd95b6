"""Faults and scale through real processes: Redis restarting under a running daemon,
several worker processes."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import cli, wait_lines

pytestmark = pytest.mark.slow


def test_worker_survives_redis_restart(
    config: Any, daemons: Any, tmp_path: Path, redis_server: Any
) -> None:
    cfg = config()
    d = daemons(cfg)
    out = tmp_path / "out.txt"
    cli(cfg, "enqueue", "test:record", "--payload", json.dumps({"path": str(out), "value": "1"}))
    assert wait_lines(out, 1) == ["1"]
    redis_server.stop()
    time.sleep(1.0)
    proc = cli(cfg, "stats", check=False)
    assert proc.returncode == 1 and "is not reachable" in proc.stderr
    redis_server.start()
    d.wait_for("Redis reachable again", timeout=15)
    cli(cfg, "enqueue", "test:record", "--payload", json.dumps({"path": str(out), "value": "2"}))
    assert wait_lines(out, 2) == ["1", "2"]
    assert d.proc.poll() is None
    assert d.stop() == 0


def test_several_worker_processes(
    config: Any, daemons: Any, tmp_path: Path, redis_client: Any
) -> None:
    cfg = config(worker={"processes": 2, "concurrency": 1})
    d = daemons(cfg)
    deadline = time.monotonic() + 20
    while redis_client.zcard("bingo:servers") < 2:
        assert time.monotonic() < deadline, d.log
        time.sleep(0.05)
    out = tmp_path / "pids.txt"
    payload = {"path": str(out), "seconds": 0.5, "value": "p"}
    for _ in range(4):
        cli(cfg, "enqueue", "test:isolated", "--payload", json.dumps(payload))
    assert len(wait_lines(out, 4, timeout=20)) == 4
    servers = {json.loads(v)["pid"] for v in redis_client.mget(redis_client.keys("bingo:server:*"))}
    assert len(servers) == 2
    d.signal(signal.SIGTERM)
    assert d.proc.wait(20) == 0
    deadline = time.monotonic() + 10
    while redis_client.zcard("bingo:servers"):
        assert time.monotonic() < deadline
        time.sleep(0.05)

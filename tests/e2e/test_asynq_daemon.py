"""A real daemon serving a queue of ``asynq.queues``: its scheduler fires into it, the CLI
enqueues into it, its worker runs the tasks, the CLI lists it as Asynq's, and SIGTERM puts
a running task back at the head of Asynq's pending list."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import cli, wait_lines, wait_until

pytestmark = pytest.mark.slow


def test_a_daemon_serves_an_asynq_queue(
    config: Any, daemons: Any, tmp_path: Path, redis_client: Any
) -> None:
    tick, out = tmp_path / "tick.out", tmp_path / "out.txt"
    cfg = config(
        asynq={"queues": {"legacy": 2}},
        worker={"queues": {"default": 1}, "shutdownTimeout": "1s"},
        scheduler={"enabled": True, "leaderLease": "2s"},
        schedules=[
            {
                "name": "every-second",
                "spec": "@every 1s",
                "type": "test:record",
                "queue": "legacy",
                "payload": {"path": str(tick), "value": "tick"},
            }
        ],
    )
    d = daemons(cfg)
    wait_lines(tick, 2, timeout=15)
    assert redis_client.sismember("asynq:queues", "legacy")
    assert not redis_client.keys("bingo:{legacy}:t:*")  # never in Bingo's layout
    payload = json.dumps({"path": str(out), "value": "from the CLI"})
    task_id = cli(cfg, "enqueue", "test:record", "--payload", payload, "--queue", "legacy")
    assert wait_lines(out, 1) == ["from the CLI"]
    assert task_id.stdout.strip().count("-") == 4  # a UUID, as Go's client makes
    listed = cli(cfg, "queues", "list").stdout
    assert "legacy (asynq)" in listed, listed
    wait_until(lambda: int(redis_client.get("asynq:{legacy}:processed") or 0) >= 3, 10, "3")

    slow = json.dumps({"path": str(out), "value": "slow", "seconds": 30})
    sid = cli(cfg, "enqueue", "test:sleep", "--payload", slow, "--queue", "legacy").stdout.strip()
    wait_until(lambda: sid in redis_client.lrange("asynq:{legacy}:active", 0, -1), 10, "active")
    assert redis_client.zscore("asynq:{legacy}:lease", sid)
    d.signal(signal.SIGTERM)
    assert d.proc.wait(30) == 0, d.log
    pending = redis_client.lrange("asynq:{legacy}:pending", 0, -1)
    assert pending[-1] == sid  # the head: it runs next
    assert redis_client.hget(f"asynq:{{legacy}}:t:{sid}", "state") == "pending"
    assert not redis_client.lrange("asynq:{legacy}:active", 0, -1)
    assert not redis_client.zcard("asynq:servers")  # its Asynq server record is gone

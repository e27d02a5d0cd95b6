"""The inspector (under the CLI and the dashboard) on a real Redis."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bingo_core import Client
from bingo_core.broker import Broker
from bingo_core.errors import TaskNotFound, UsageError
from bingo_core.inspector import Inspector
from bingo_core.registry import Registry, TaskRegister


async def handle(ctx: Any, payload: Any) -> None:
    return None


@pytest.fixture
def env(bingo_settings: Any) -> Any:
    registry = Registry()
    TaskRegister(registry, "t")("t:x", handle)
    client = Client(bingo_settings, registry=registry)
    yield client, Inspector(Broker(bingo_settings.redis))
    client.close()


def test_stats_and_listing(env: Any) -> None:
    client, inspector = env
    ids = client.enqueue_many([("t:x", {"i": i}) for i in range(5)])
    later = client.enqueue("t:x", {"i": 99}, process_in=60)
    stats = inspector.stats()[0]
    assert (stats.queue, stats.pending, stats.scheduled) == ("default", 5, 1)
    assert stats.latency >= 0 and stats.paused is False
    pending = inspector.tasks("default", "pending")
    assert [t.id for t in pending] == ids  # oldest first
    assert inspector.tasks("default", "scheduled")[0].id == later.id
    with pytest.raises(UsageError, match="unknown state"):
        inspector.tasks("default", "weird")


def test_actions(env: Any, redis_client: Any) -> None:
    client, inspector = env
    a = client.enqueue("t:x", {"n": 1}, process_in=60)
    b = client.enqueue("t:x", {"n": 2})
    inspector.act("archive", a.id)
    assert inspector.find(a.id).state == "archived"
    inspector.act("retry", a.id)
    assert inspector.find(a.id).state == "pending"
    with pytest.raises(UsageError, match="already pending"):
        inspector.act("retry", a.id)
    inspector.act("delete", b.id)
    with pytest.raises(TaskNotFound):
        inspector.find(b.id)
    assert redis_client.lrange("bingo:{default}:pending", 0, -1) == [a.id]


def test_bulk_action_and_pause(env: Any, redis_client: Any) -> None:
    client, inspector = env
    for _ in range(3):
        client.enqueue("t:x", {}, process_in=60)
    assert inspector.act_all("archive", "default", "scheduled") == 3
    assert inspector.stats()[0].archived == 3
    assert inspector.act_all("delete", "default", "archived") == 3
    inspector.pause("default")
    assert inspector.stats()[0].paused is True
    inspector.resume("default")
    assert inspector.stats()[0].paused is False


def test_tasks_cli(tmp_path: Path, redis_url: str, env: Any) -> None:
    client, _ = env
    cfg = tmp_path / "c.yaml"
    cfg.write_text(json.dumps({"redis": {"url": redis_url}}))
    bin_ = str(Path(sys.executable).with_name("bingo-scheduler"))
    info = client.enqueue("t:x", {"n": 1}, process_in=60)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [bin_, "-c", str(cfg), *args], capture_output=True, text=True, timeout=60
        )

    out = run("tasks", "list", "--state", "scheduled", "--json")
    assert [t["id"] for t in json.loads(out.stdout)] == [info.id]
    assert run("tasks", "archive", info.id).returncode == 0
    assert json.loads(run("tasks", "show", info.id, "--json").stdout)["state"] == "archived"
    assert run("tasks", "retry", info.id).returncode == 0
    assert json.loads(run("tasks", "show", info.id, "--json").stdout)["state"] == "pending"
    assert run("tasks", "delete", info.id).returncode == 0
    missing = run("tasks", "show", info.id)
    assert missing.returncode == 2 and f"no task '{info.id}'" in missing.stderr
    table = run("stats")
    assert table.returncode == 0 and "default" in table.stdout


def test_cli_json_keeps_its_shapes(tmp_path: Path, redis_url: str, env: Any) -> None:
    """``stats``, ``queues list``, ``tasks show`` and ``cron list`` print the keys they
    always printed (the records' JSON)."""
    client, _ = env
    cfg = tmp_path / "c.yaml"
    cfg.write_text(json.dumps({"redis": {"url": redis_url}}))
    bin_ = str(Path(sys.executable).with_name("bingo-scheduler"))
    info = client.enqueue("t:x", {"n": 1})

    def run(*args: str) -> Any:
        out = subprocess.run(
            [bin_, "-c", str(cfg), *args, "--json"], capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    (queue,) = run("stats")["queues"]
    assert set(queue) == {
        *("queue", "pending", "active", "scheduled", "retry", "archived", "completed"),
        *("size", "processed", "failed", "processed_today", "failed_today", "paused"),
        *("latency", "bad_keys", "consumers", "throttled", "layout", "waiting"),
    }
    assert queue["pending"] == 1 and queue["bad_keys"] == []
    assert run("queues", "list") == [
        {
            "queue": "default",
            "size": 1,
            "pending": 1,
            "paused": False,
            "consumers": 0,
            "layout": "bingo",
        }
    ]
    task = run("tasks", "show", info.id)
    assert set(task) == {
        *("id", "type", "queue", "state", "payload", "max_retry", "retried", "error"),
        *("timeout", "deadline", "retention", "unique_key", "enqueued_at", "process_at"),
        *("started_at", "failed_at", "completed_at", "idempotent", "source", "worker"),
        *("result", "progress", "headers", "depends_on", "deps_open", "batch_items"),
        "workflow",
        "held_by",
    }
    assert run("cron", "list") == {
        "leader": {"id": None, "epoch": 0, "ttl": None},
        "entries": [],
        "sync": None,
    }

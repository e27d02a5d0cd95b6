"""End to end through real processes: the daemon, the CLI, an installed test plugin."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import cli, wait_lines

pytestmark = pytest.mark.slow


def enqueue(config: Path, task_type: str, payload: dict[str, Any], *opts: str) -> str:
    out = cli(config, "enqueue", task_type, "--payload", json.dumps(payload), *opts)
    task_id = out.stdout.strip()
    assert len(task_id) >= 8 and "\n" not in task_id
    return task_id


def stats(config: Path) -> dict[str, Any]:
    rows = json.loads(cli(config, "stats", "--json").stdout)["queues"]
    return {r["queue"]: r for r in rows}


def test_cli_enqueue_runs_in_daemon(config: Any, daemons: Any, tmp_path: Path) -> None:
    cfg = config()
    daemons(cfg)
    out = tmp_path / "out.txt"
    enqueue(cfg, "test:record", {"path": str(out), "value": "hello"})
    enqueue(cfg, "test:typed", {"path": str(out), "count": 3, "name": "n"})
    assert sorted(wait_lines(out, 2)) == ["hello", "n:3"]
    assert stats(cfg)["default"]["processed"] == 2


def wait_active(redis_client: Any, count: int = 1, queue: str = "default") -> None:
    deadline = time.monotonic() + 10
    while redis_client.zcard(f"bingo:{{{queue}}}:lease") != count:
        assert time.monotonic() < deadline, "task never became active"
        time.sleep(0.01)


def test_sigkill_mid_task_runs_again_after_restart(
    config: Any, daemons: Any, tmp_path: Path, redis_client: Any
) -> None:
    cfg = config()
    first = daemons(cfg)
    out = tmp_path / "out.txt"
    task_id = enqueue(cfg, "test:sleep", {"path": str(out), "seconds": 1.5, "value": "done"})
    wait_active(redis_client)
    first.signal(signal.SIGKILL)
    first.proc.wait()
    assert not out.exists()
    killed_at = time.monotonic()
    daemons(cfg)
    assert wait_lines(out, 1, timeout=15) == ["done"]
    # Lease 2s + the handler's 1.5s, with room for process start.
    assert time.monotonic() - killed_at < 10
    show = json.loads(cli(cfg, "tasks", "show", task_id, "--json", check=False).stdout or "{}")
    assert show == {} or show.get("state") != "active"


def test_sigterm_lets_active_task_finish(
    config: Any, daemons: Any, tmp_path: Path, redis_client: Any
) -> None:
    cfg = config()
    d = daemons(cfg)
    out = tmp_path / "out.txt"
    enqueue(cfg, "test:sleep", {"path": str(out), "seconds": 1.0, "value": "finished"})
    wait_active(redis_client)
    d.signal(signal.SIGTERM)
    assert d.proc.wait(15) == 0
    assert out.read_text().splitlines() == ["finished"]
    assert stats(cfg)["default"]["pending"] == 0


def test_sigterm_requeues_what_cannot_finish(
    config: Any, daemons: Any, tmp_path: Path, redis_client: Any
) -> None:
    cfg = config(worker={"shutdownTimeout": "300ms"})
    d = daemons(cfg)
    out = tmp_path / "out.txt"
    task_id = enqueue(cfg, "test:sleep", {"path": str(out), "seconds": 30, "value": "never"})
    wait_active(redis_client)
    d.signal(signal.SIGTERM)
    assert d.proc.wait(15) == 0
    s = stats(cfg)["default"]
    assert (s["pending"], s["active"]) == (1, 0)
    show = json.loads(cli(cfg, "tasks", "show", task_id, "--json").stdout)
    assert show["state"] == "pending" and show["retried"] == 0
    assert "requeued 1" in d.log


def test_timeout_retry_and_archive(config: Any, daemons: Any, tmp_path: Path) -> None:
    cfg = config()
    daemons(cfg)
    out = tmp_path / "out.txt"
    slow = enqueue(
        cfg,
        "test:sleep",
        {"path": str(out), "seconds": 5, "value": "late"},
        "--timeout",
        "0.3",
        "--max-retry",
        "0",
    )
    fail = tmp_path / "fail.txt"
    failing = enqueue(
        cfg, "test:fail", {"path": str(fail), "value": "try", "fail_times": 10}, "--max-retry", "2"
    )
    assert wait_lines(fail, 3, timeout=20) == ["try"] * 3
    deadline = time.monotonic() + 15
    while stats(cfg)["default"]["archived"] != 2:
        assert time.monotonic() < deadline, stats(cfg)
        time.sleep(0.05)
    show = json.loads(cli(cfg, "tasks", "show", slow, "--json").stdout)
    assert show["state"] == "archived" and "timed out after 0.3s" in show["error"]
    show = json.loads(cli(cfg, "tasks", "show", failing, "--json").stdout)
    assert show["state"] == "archived" and show["retried"] == 2
    assert "RuntimeError" in show["error"]
    archived = json.loads(cli(cfg, "tasks", "list", "--state", "archived", "--json").stdout)
    assert {t["id"] for t in archived} == {slow, failing}
    assert not out.exists()


def test_refused_input_exits_2_and_writes_nothing(
    config: Any, redis_client: Any, tmp_path: Path
) -> None:
    cfg = config()
    cases = [
        (
            ["enqueue", "test:typed", "--payload", '{"count": "x", "name": "a", "path": "p"}'],
            "count",
        ),
        (["enqueue", "test:nope", "--payload", "{}"], "unknown task type 'test:nope'"),
        (["enqueue", "test:record", "--payload", "{nope"], "not valid JSON"),
        (
            [
                "enqueue",
                "test:record",
                "--payload",
                '{"path": "p", "value": "v"}',
                "--max-retry",
                "-1",
            ],
            "max_retry",
        ),
        (
            [
                "enqueue",
                "test:record",
                "--payload",
                '{"path": "p", "value": "v"}',
                "--process-at",
                "tomorrow",
            ],
            "process_at",
        ),
    ]
    for args, needle in cases:
        proc = cli(cfg, *args, check=False)
        assert proc.returncode == 2, (args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], proc.stderr
    assert redis_client.dbsize() == 0


def test_redis_unreachable_is_one_line_exit_1(tmp_path: Path, daemons: Any) -> None:
    from daemon_helpers import write_config

    cfg = write_config(tmp_path / "c.yaml", "redis://127.0.0.1:1/0")
    d = daemons(cfg, ready=False)
    assert d.proc.wait(20) == 1
    errors = [line for line in d.lines if "127.0.0.1:1" in line]
    assert len(errors) == 1 and "Redis" in errors[0], d.log
    proc = cli(
        cfg, "enqueue", "test:record", "--payload", '{"path": "p", "value": "v"}', check=False
    )
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1


def test_broken_plugin_is_isolated(config: Any, daemons: Any, tmp_path: Path) -> None:
    cfg = config()
    data = json.loads(cli(cfg, "plugins", "--json").stdout)
    by_name = {p["name"]: p for p in data["plugins"]}
    assert "ImportError" in by_name["broken_import"]["error"]
    assert "missing dependency" in by_name["broken_import"]["error"]
    assert "bad registration" in by_name["broken_register"]["error"]
    assert by_name["broken_register"]["task_types"] == []
    assert not by_name["testplug"]["error"]
    d = daemons(cfg)
    assert "broken_import" in d.log and "broken_register" in d.log
    out = tmp_path / "out.txt"
    enqueue(cfg, "test:record", {"path": str(out), "value": "still works"})
    assert wait_lines(out, 1) == ["still works"]


def test_seed_config_loads_unchanged_for_plugins(seed_config: Path) -> None:
    proc = cli(seed_config, "plugins", "--json")
    names = {p["name"] for p in json.loads(proc.stdout)["plugins"]}
    assert {"daily_report", "daily_stats", "mail_notify", "testplug"} <= names

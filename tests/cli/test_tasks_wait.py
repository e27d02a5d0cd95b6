"""``bingo-scheduler tasks wait``: prints the result of a completed task, one line and
exit 1 for an archived one, exit 3 at the timeout, exit 2 for a bad timeout."""

from __future__ import annotations

import json
from pathlib import Path

from daemon_helpers import cli

from bingo_core.app import App


def _task(app: App, state: str, **fields: str) -> str:
    """A task of the test plugin put in ``state`` by hand (no worker needed to wait)."""
    info = app.client.enqueue("test:record", {"path": "/dev/null", "value": "v"})
    key = f"bingo:{{default}}:t:{info.id}"
    app.broker.redis.lrem("bingo:{default}:pending", 0, info.id)
    app.broker.redis.hset(key, mapping={"state": state, **fields})
    return info.id


def test_prints_the_result_of_a_completed_task(cfg: Path, app: App) -> None:
    task_id = _task(app, "completed", result='{"rows": 3}')
    out = cli(cfg, "tasks", "wait", task_id)
    assert json.loads(out.stdout) == {"rows": 3}
    out = cli(cfg, "tasks", "wait", task_id, "--json", "--timeout", "1")
    assert json.loads(out.stdout) == {"id": task_id, "state": "completed", "result": {"rows": 3}}


def test_an_archived_task_is_one_line_and_exit_1(cfg: Path, app: App) -> None:
    task_id = _task(app, "archived", error="ValueError: bad row\n  traceback line")
    out = cli(cfg, "tasks", "wait", task_id, check=False)
    assert out.returncode == 1 and out.stdout == ""
    line = f"error: task {task_id} (queue default) was archived: ValueError: bad row\n"
    assert out.stderr == line


def test_the_timeout_is_one_line_and_exit_3(cfg: Path, app: App) -> None:
    info = app.client.enqueue("test:record", {"path": "/dev/null", "value": "v"})
    out = cli(cfg, "tasks", "wait", info.id, "--timeout", "0.2", check=False)
    assert out.returncode == 3
    assert out.stderr == f"error: task {info.id} did not end within 0.2 s (it goes on)\n"


def test_bad_input_is_one_line(cfg: Path, app: App) -> None:
    out = cli(cfg, "tasks", "wait", "x", "--timeout", "-1", check=False)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "-1" in out.stderr
    out = cli(cfg, "tasks", "wait", "nope", "--timeout", "1", check=False)
    assert out.returncode == 2 and out.stderr.startswith("error: no task 'nope'")

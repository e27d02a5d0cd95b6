"""A plain ``def`` handler cut off by its timeout or a cancel, in a real daemon: the task is
archived with its reason, the thread ends on its own when it sees ``ctx.cancelled``, and
what it raises late is no error in the daemon's log."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import cli, wait_lines, wait_until

pytestmark = pytest.mark.slow

LATE = "exception was never retrieved"


def show(cfg: Path, task_id: str) -> dict[str, Any]:
    return dict(json.loads(cli(cfg, "tasks", "show", task_id, "--json").stdout))


def test_a_timed_out_sync_handler_leaves_no_error(
    config: Any, daemons: Any, tmp_path: Path
) -> None:
    cfg = config()
    d = daemons(cfg, env={"BINGO_PLUGINS": "testplug"})
    out = tmp_path / "out.txt"
    payload = {"path": str(out), "seconds": 5, "value": "v"}
    args = ("--payload", json.dumps(payload), "--timeout", "0.3", "--max-retry", "0")
    task_id = cli(cfg, "enqueue", "test:sync-sleep", *args).stdout.strip()
    # The abandoned thread sees ctx.cancelled and raises TaskTimeout (raise_if_cancelled).
    assert wait_lines(out, 1) == ["cancelled:v"]
    wait_until(lambda: show(cfg, task_id)["state"] == "archived", 10, "task archived")
    assert "timed out after 0.3s" in show(cfg, task_id)["error"]
    time.sleep(0.3)  # the late exception reaches the loop after the thread ended
    assert d.stop() == 0
    assert LATE not in d.log, d.log
    errors = [line for line in d.lines if " ERROR " in line]
    assert len(errors) == 1 and f"task {task_id} (test:sync-sleep) archived" in errors[0], d.log


def test_a_cancelled_sync_handler_leaves_no_error(
    config: Any, daemons: Any, tmp_path: Path
) -> None:
    cfg = config()
    d = daemons(cfg, env={"BINGO_PLUGINS": "testplug"})
    out = tmp_path / "out.txt"
    payload = {"path": str(out), "seconds": 30, "value": "v"}
    task_id = cli(cfg, "enqueue", "test:sync-sleep", "--payload", json.dumps(payload)).stdout
    task_id = task_id.strip()
    wait_until(lambda: show(cfg, task_id)["state"] == "active", 10, "task active")
    asked = cli(cfg, "tasks", "cancel", task_id)
    assert "asked" in asked.stdout
    assert wait_lines(out, 1) == ["cancelled:v"]
    wait_until(lambda: show(cfg, task_id)["state"] == "archived", 10, "task archived")
    assert show(cfg, task_id)["error"] == "cancelled by the CLI (tasks cancel) while it ran"
    time.sleep(0.3)
    assert d.stop() == 0
    assert LATE not in d.log, d.log
    errors = [line for line in d.lines if " ERROR " in line]
    assert len(errors) == 1 and f"task {task_id} (test:sync-sleep) archived" in errors[0], d.log

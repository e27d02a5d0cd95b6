"""``bingo-scheduler tasks cancel`` and ``Inspector.cancel``: a task that waits (pending,
scheduled, or between two attempts) is archived at once; an active one is stopped by its
worker; the error names who asked."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from daemon_helpers import Daemon, cli, wait_lines, wait_until, write_config

from bingo_core.app import App
from bingo_core.config import load_settings


def show(cfg: Path, task_id: str) -> dict[str, Any]:
    return dict(json.loads(cli(cfg, "tasks", "show", task_id, "--json").stdout))


@pytest.mark.slow
def test_a_task_waiting_for_its_retry_is_archived_at_once(
    cfg: Path, app: App, tmp_path: Path
) -> None:
    attempts = tmp_path / "attempts.txt"
    payload = {"path": str(attempts), "value": "try", "fail_times": 10}
    d = Daemon(cfg, env={"BINGO_PLUGINS": "testplug"})
    try:
        d.wait_for("worker ready")
        task = app.client.enqueue("test:fail", payload, retry_backoff=6, max_retry=5)
        assert wait_lines(attempts, 1) == ["try"]
        wait_until(lambda: app.inspector.find(task.id).state == "retry", 10, "task in retry")
        out = cli(cfg, "tasks", "cancel", task.id)
        assert out.stdout.count("\n") == 1 and "archived" in out.stdout
        done = show(cfg, task.id)
        assert done["state"] == "archived"
        assert done["error"] == "cancelled by the CLI (tasks cancel) while it waited for a retry"
        assert done["retried"] == 1
        time.sleep(6)  # past the retry time: it must not run again
        assert attempts.read_text().splitlines() == ["try"]
        assert show(cfg, task.id)["state"] == "archived"
        assert d.stop() == 0
    finally:
        d.close()


def test_pending_and_scheduled_tasks_are_archived_naming_python(app: App, tmp_path: Path) -> None:
    payload = {"path": str(tmp_path / "out"), "value": "v"}
    pending = app.client.enqueue("test:record", payload)
    later = app.client.enqueue("test:record", payload, process_in=60)
    assert app.inspector.cancel(pending.id).error == (
        "cancelled by Python (Inspector.cancel) while it was pending"
    )
    done = app.inspector.cancel(later.id, by="nightly cleanup job")
    assert (done.state, done.error) == (
        "archived",
        "cancelled by nightly cleanup job before its scheduled time",
    )
    stats = app.inspector.stats(["default"])[0]
    assert (stats.pending, stats.scheduled, stats.archived) == (0, 0, 2)


def test_cancel_of_an_ended_or_unknown_task_is_one_line_exit_2(
    cfg: Path, app: App, tmp_path: Path
) -> None:
    task = app.client.enqueue("test:record", {"path": str(tmp_path / "out"), "value": "v"})
    assert cli(cfg, "tasks", "cancel", task.id, "--json").returncode == 0
    again = cli(cfg, "tasks", "cancel", task.id, check=False)
    assert again.returncode == 2
    assert again.stderr.count("\n") == 1 and "archived already: nothing to cancel" in again.stderr
    unknown = cli(cfg, "tasks", "cancel", "nosuch", check=False)
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1
    assert "no task 'nosuch'" in unknown.stderr


def test_show_and_list_give_the_next_attempt_in_the_server_zone(
    tmp_path: Path, redis_url: str
) -> None:
    config = write_config(tmp_path / "berlin.yaml", redis_url, server={"timezone": "Europe/Berlin"})
    app = App(load_settings(config, env={}))
    try:
        task = app.client.enqueue("test:record", {"path": str(tmp_path / "o"), "value": "v"})
        at = time.time() + 1800

        async def fail_once() -> None:
            broker = app.async_broker()
            try:
                await broker.fetch("default", 1, time.time() + 60, "w:1:x")
                assert await broker.retry("default", task.id, "w:1:x", at, "OSError: down")
            finally:
                await broker.close()

        asyncio.run(fail_once())
    finally:
        app.close()
    shown = show(config, task.id)
    assert shown["state"] == "retry" and abs(shown["process_at"] - at) < 0.01
    text = cli(config, "tasks", "show", task.id).stdout
    local = datetime.fromtimestamp(at, ZoneInfo("Europe/Berlin")).strftime("%Y-%m-%d %H:%M:%S")
    assert f"next attempt  {local} Europe/Berlin" in text
    listed = cli(config, "tasks", "list", "--state", "retry").stdout
    assert "next attempt" in listed and f"{local} Europe/Berlin" in listed


def test_depends_on_from_the_command_line(cfg: Path, app: App, tmp_path: Path) -> None:
    payload = json.dumps({"path": str(tmp_path / "o"), "value": "v"})
    first = app.client.enqueue("test:record", json.loads(payload)).id
    out = cli(
        cfg, "enqueue", "test:record", "--payload", payload, "--depends-on", f"{first},{first}"
    )
    task_id = out.stdout.split()[-1] if out.stdout else ""
    listed = json.loads(cli(cfg, "tasks", "list", "--state", "waiting", "--json").stdout)
    assert [t["id"] for t in listed] == [task_id]
    assert listed[0]["depends_on"] == [first]
    text = cli(cfg, "tasks", "show", task_id).stdout
    assert f"depends_on    {first} (1 not completed yet)" in text and "deps_open" not in text
    stats = json.loads(cli(cfg, "stats", "--json").stdout)["queues"][0]
    assert stats["waiting"] == 1 and stats["pending"] == 1
    assert "waiting" in cli(cfg, "stats").stdout
    refused = cli(
        cfg, "enqueue", "test:record", "--payload", payload, "--depends-on", "nope", check=False
    )
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.strip().endswith(
        "depends_on: no task 'nope' in queue 'default' (a dependency must exist; one of "
        "another queue is given as the TaskInfo its enqueue returned)"
    )
    assert refused.stderr.count("\n") == 1

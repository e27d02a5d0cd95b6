"""The ``deadline`` option: a deadline already past is refused at enqueue (Client and
CLI); an attempt cut by its deadline while it runs is archived as "deadline exceeded",
never retried (as Asynq does)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import cli, write_config

import bingo_core as bingo
from bingo_core.app import App
from bingo_core.errors import OptionError
from bingo_core.testing import run_task


async def slow_async(ctx: bingo.TaskContext, payload: dict[str, Any]) -> None:
    await asyncio.sleep(20)


def slow_sync(ctx: bingo.TaskContext, payload: dict[str, Any]) -> None:
    end = time.monotonic() + 20
    while time.monotonic() < end:
        ctx.raise_if_cancelled()
        time.sleep(0.01)


class Plugin:
    @bingo.hookimpl
    def bingo_register_tasks(self, register: Any) -> None:
        register("d:async", slow_async)
        register("d:sync", slow_sync)


@pytest.mark.parametrize("task_type", ["d:async", "d:sync"])
def test_a_task_cut_by_its_deadline_is_archived_not_retried(
    bingo_app: Callable[..., App], task_type: str
) -> None:
    app = bingo_app(Plugin())
    task = run_task(app, task_type, {}, deadline=time.time() + 3, max_retry=5, wait=15)
    assert task.state == "archived", task
    assert task.error.startswith("deadline exceeded: stopped after"), task.error
    assert "before the task started" not in task.error
    assert task.retried == 0


def test_the_client_refuses_a_past_deadline(bingo_app: Callable[..., App]) -> None:
    app = bingo_app(Plugin())
    with pytest.raises(OptionError, match=r"deadline .* is already past") as caught:
        app.client.enqueue("d:async", {}, deadline=time.time() - 1)
    assert "\n" not in str(caught.value)
    with pytest.raises(OptionError, match="already past"):
        app.client.enqueue_many([("d:async", {}, {"deadline": "2020-01-01T00:00:00Z"})])
    assert app.inspector.tasks("default", "pending") == []


def test_the_cli_refuses_a_past_deadline_with_exit_2(
    tmp_path: Path, redis_url: str, redis_client: Any
) -> None:
    cfg = write_config(tmp_path / "bingo.yaml", redis_url)
    payload = json.dumps({"path": str(tmp_path / "out"), "value": "v"})
    args = ("enqueue", "test:record", "--payload", payload, "--deadline", "2020-01-01T00:00:00Z")
    out = cli(cfg, *args, check=False)
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and "deadline 2020-01-01T00:00:00Z is already past" in (
        out.stderr
    )
    assert redis_client.keys("bingo:*t:*") == []
    future = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    ok = cli(cfg, "enqueue", "test:record", "--payload", payload, "--deadline", future)
    assert ok.returncode == 0 and len(ok.stdout.strip()) == 32

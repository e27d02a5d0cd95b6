"""``bingo_core.testing``: what plugin authors call in their own tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

import bingo_core as bingo
from bingo_core.app import App
from bingo_core.testing import run_task


async def slow(ctx: bingo.TaskContext, payload: dict[str, Any]) -> str:
    await asyncio.sleep(float(payload.get("seconds", 2)))
    return "slept"


class Plugin:
    @bingo.hookimpl
    def bingo_register_tasks(self, register: Any) -> None:
        register("t:slow", slow)


def test_run_task_passes_timeout_to_the_task(bingo_app: Callable[..., App]) -> None:
    task = run_task(bingo_app(Plugin()), "t:slow", {"seconds": 5}, timeout=0.2, max_retry=0)
    assert task.state == "archived"
    assert "timed out after 0.2s" in task.error


def test_run_task_wait_bounds_the_worker(bingo_app: Callable[..., App]) -> None:
    with pytest.raises(TimeoutError, match=r"queues not empty after 0\.3s"):
        run_task(bingo_app(Plugin()), "t:slow", {"seconds": 5}, wait=0.3)


def test_run_task_runs_to_completion(bingo_app: Callable[..., App]) -> None:
    task = run_task(bingo_app(Plugin()), "t:slow", {"seconds": 0}, timeout=5)
    assert (task.state, task.result) == ("completed", "slept")

"""Task options and queue settings, run by a real worker on a real Redis."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import bingo_test_plugin as tp
import pytest
from pydantic import BaseModel

import bingo_core as bingo
from bingo_core import Client
from bingo_core.plugins import PluginManager
from bingo_core.registry import TaskRegister
from bingo_core.testing import drain

ORDER: list[str] = []
BACKOFFS: list[int] = []


class Tag(BaseModel):
    tag: str


async def record(ctx: bingo.TaskContext, payload: Tag) -> None:
    ORDER.append(payload.tag)


async def always_fails(ctx: bingo.TaskContext, payload: Tag) -> None:
    raise RuntimeError("nope")


def backoff(retried: int) -> float:
    BACKOFFS.append(retried)
    return 0.05


class Plugin:
    @bingo.hookimpl
    def bingo_register_tasks(self, register: TaskRegister) -> None:
        register("o:record", record, payload=Tag)
        register("o:fails", always_fails, payload=Tag, max_retry=3, retry_backoff=backoff)
        register(
            "o:isolated",
            tp.handle_isolated,
            payload=tp.SleepPayload,
            isolation="process",
            max_retry=0,
        )


@pytest.fixture(autouse=True)
def _clear() -> None:
    ORDER.clear()
    BACKOFFS.clear()


@pytest.fixture
def env(bingo_settings: Any) -> Any:
    manager = PluginManager()
    manager.add(Plugin(), "options-plugin")
    registry = manager.collect()
    client = Client(bingo_settings, registry=registry)
    yield bingo_settings, registry, manager, client
    client.close()


def test_strict_priority_drains_high_queue_first(env: Any) -> None:
    settings, registry, manager, client = env
    settings.worker.queues = {"low": 1, "critical": 5}
    settings.worker.strict_priority = True
    settings.worker.concurrency = 1
    for i in range(5):
        client.enqueue("o:record", {"tag": f"low{i}"}, queue="low")
        client.enqueue("o:record", {"tag": f"crit{i}"}, queue="critical")
    asyncio.run(drain(settings, registry, manager))
    assert ORDER == [f"crit{i}" for i in range(5)] + [f"low{i}" for i in range(5)]


def test_weighted_queues_all_get_served(env: Any) -> None:
    settings, registry, manager, client = env
    settings.worker.queues = {"low": 1, "high": 9}
    settings.worker.concurrency = 1
    client.enqueue_many(
        [("o:record", {"tag": "low"}, {"queue": "low"})] * 50
        + [("o:record", {"tag": "high"}, {"queue": "high"})] * 50
    )
    asyncio.run(drain(settings, registry, manager))
    assert len(ORDER) == 100
    # high has 9x the weight: it is mostly served first, but low is not starved.
    first_half = ORDER[:50]
    assert first_half.count("high") > first_half.count("low") > 0


def test_retention_keeps_completed_task_then_janitor_deletes(env: Any, redis_client: Any) -> None:
    settings, registry, manager, client = env
    info = client.enqueue("o:record", {"tag": "kept"}, retention=2)
    asyncio.run(drain(settings, registry, manager))
    task = client.broker.reader.get_task("default", info.id)
    assert task.state == "completed" and task.completed_at is not None
    assert redis_client.zcard("bingo:{default}:completed") == 1
    time.sleep(2.1)
    settings.worker.recover_interval = 0.05

    async def janitor_runs() -> None:
        from bingo_core.app import App
        from bingo_core.worker import Worker

        stop = asyncio.Event()
        app = App(settings, registry=registry, manager=manager)
        runner = asyncio.create_task(Worker(app).run(stop))
        deadline = time.monotonic() + 5
        while redis_client.zcard("bingo:{default}:completed") and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        stop.set()
        await runner
        await app.aclose()

    asyncio.run(janitor_runs())
    assert redis_client.zcard("bingo:{default}:completed") == 0
    assert not redis_client.exists(f"bingo:{{default}}:t:{info.id}")


def test_archive_is_trimmed_by_size(env: Any, redis_client: Any) -> None:
    settings, registry, manager, client = env
    settings.worker.archive_max_size = 3
    for i in range(5):
        client.enqueue("o:fails", {"tag": str(i)}, max_retry=0)
    asyncio.run(drain(settings, registry, manager))
    assert redis_client.zcard("bingo:{default}:archived") == 3
    assert len(redis_client.keys("bingo:{default}:t:*")) == 3


def test_retry_backoff_callable_gets_retry_count(env: Any) -> None:
    settings, registry, manager, client = env
    info = client.enqueue("o:fails", {"tag": "x"})
    asyncio.run(drain(settings, registry, manager))
    assert BACKOFFS == [0, 1, 2]
    assert client.broker.reader.get_task("default", info.id).retried == 3


def test_unique_lock_released_on_success(env: Any, redis_client: Any) -> None:
    settings, registry, manager, client = env
    client.enqueue("o:record", {"tag": "u"}, unique=60)
    with pytest.raises(bingo.BingoError):
        client.enqueue("o:record", {"tag": "u"}, unique=60)
    asyncio.run(drain(settings, registry, manager))
    assert redis_client.keys("bingo:{default}:unique:*") == []
    client.enqueue("o:record", {"tag": "u"}, unique=60)  # allowed again


def test_deadline_passed_archives_without_running(env: Any) -> None:
    settings, registry, manager, client = env
    info = client.enqueue("o:record", {"tag": "late"}, deadline=time.time() + 0.2)
    time.sleep(0.3)
    asyncio.run(drain(settings, registry, manager))
    assert ORDER == []
    task = client.broker.reader.get_task("default", info.id)
    assert task.state == "archived" and task.error == "deadline exceeded before the task started"


def test_process_isolation_runs_elsewhere_and_is_killed_at_timeout(
    env: Any, tmp_path: Path
) -> None:
    settings, registry, manager, client = env
    out = tmp_path / "iso.txt"
    client.enqueue("o:isolated", {"path": str(out), "seconds": 0, "value": "ran"})
    killed = client.enqueue(
        "o:isolated", {"path": str(out), "seconds": 30, "value": "no"}, timeout=0.5
    )
    started = time.monotonic()
    asyncio.run(drain(settings, registry, manager, timeout=20))
    assert time.monotonic() - started < 15
    value, pid = out.read_text().split(":")
    assert value == "ran" and int(pid) != os.getpid()
    task = client.broker.reader.get_task("default", killed.id)
    assert task.state == "archived" and "process killed" in task.error


def test_lifecycle_hooks_are_called_and_a_failing_hook_is_contained(env: Any, caplog: Any) -> None:
    settings, registry, manager, client = env
    seen: list[str] = []

    class Hooks:
        @bingo.hookimpl
        def bingo_task_started(self, ctx: bingo.TaskContext) -> None:
            seen.append(f"started {ctx.type}")

        @bingo.hookimpl
        def bingo_task_succeeded(self, ctx: bingo.TaskContext) -> None:
            raise RuntimeError("hook bug")

        @bingo.hookimpl
        def bingo_task_failed(self, ctx: Any, error: BaseException, retrying: bool) -> None:
            seen.append(f"failed {ctx.type} {retrying} {type(error).__name__}")

    manager.add(Hooks(), "hooks-plugin")
    client.enqueue("o:record", {"tag": "a"})
    client.enqueue("o:fails", {"tag": "b"}, max_retry=0)
    asyncio.run(drain(settings, registry, manager))
    assert ORDER == ["a"]
    assert "started o:record" in seen and "failed o:fails False RuntimeError" in seen
    assert any(
        "hooks-plugin" in r.getMessage() and "hook bug" in r.getMessage() for r in caplog.records
    )


def test_archive_is_trimmed_by_age(env: Any, redis_client: Any) -> None:
    settings, registry, manager, client = env
    settings.worker.archive_max_age = 0.5
    old = client.enqueue("o:fails", {"tag": "old"}, max_retry=0)
    asyncio.run(drain(settings, registry, manager))
    assert redis_client.zscore("bingo:{default}:archived", old.id) is not None
    time.sleep(0.6)
    new = client.enqueue("o:fails", {"tag": "new"}, max_retry=0)
    asyncio.run(drain(settings, registry, manager))
    assert redis_client.zrange("bingo:{default}:archived", 0, -1) == [new.id]
    assert not redis_client.exists(f"bingo:{{default}}:t:{old.id}")

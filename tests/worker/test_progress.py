"""``ctx.progress`` with a real worker on a real Redis: from async and sync handlers,
coalesced (a handler reporting thousands of times writes a handful of times), the last
value always kept when the attempt ends, visible while the task runs, and shown by
``client.info``, ``tasks show`` and its ``--json``; bad values are one line."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from pydantic import BaseModel

import bingo_core as bingo
from bingo_core import Client
from bingo_core.app import App
from bingo_core.cli.main import main as cli_main
from bingo_core.plugins import PluginManager
from bingo_core.records import TaskProgress
from bingo_core.registry import Registry, TaskRegister
from bingo_core.testing import drain

GATE = threading.Event()
ERRORS: list[str] = []


class Steps(BaseModel):
    n: int


async def async_steps(ctx: bingo.TaskContext, payload: Steps) -> None:
    for i in range(1, payload.n + 1):
        ctx.progress(i, payload.n, f"row {i}")
        if i % 100 == 0:
            await asyncio.sleep(0.01)


def sync_steps(ctx: bingo.TaskContext, payload: Steps) -> None:
    for i in range(1, payload.n + 1):
        ctx.progress(i, payload.n, "sync")
        if i % 100 == 0:
            time.sleep(0.01)


def halfway(ctx: bingo.TaskContext, payload: Steps) -> None:
    ctx.progress(5, 10, "half")
    GATE.wait(10)


async def bad(ctx: bingo.TaskContext, payload: Steps) -> None:
    for args in ((-1,), ("x",), (1, float("nan")), (True,)):
        try:
            ctx.progress(*args)
        except ValueError as exc:
            ERRORS.append(str(exc))
    ctx.progress(3, note="x" * 500)


class Plugin:
    @bingo.hookimpl
    def bingo_register_tasks(self, register: TaskRegister) -> None:
        register("p:async", async_steps, payload=Steps, retention=60)
        register("p:sync", sync_steps, payload=Steps, retention=60)
        register("p:half", halfway, payload=Steps, retention=60)
        register("p:bad", bad, payload=Steps, retention=60)


@pytest.fixture
def setup(bingo_settings: Any) -> Iterator[tuple[Any, Registry, PluginManager, Client]]:
    GATE.clear()
    ERRORS.clear()
    manager = PluginManager()
    manager.add(Plugin(), "progressplugin")
    registry = manager.collect()
    client = Client(bingo_settings, registry=registry)
    yield bingo_settings, registry, manager, client
    client.close()


def _progress_writes(r: redis.Redis) -> int:
    stats = r.info("commandstats").get("cmdstat_evalsha", {})
    return int(stats.get("calls", 0))


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_progress_is_coalesced_and_its_last_value_kept(
    setup: Any, redis_client: redis.Redis, kind: str
) -> None:
    settings, registry, manager, client = setup
    info = client.enqueue(f"p:{kind}", {"n": 5000})
    before = _progress_writes(redis_client)
    started = time.monotonic()
    asyncio.run(drain(settings, registry, manager))
    took = time.monotonic() - started
    progress = client.info(info.id).progress
    assert progress is not None
    assert (progress.done, progress.total, progress.percent) == (5000, 5000, 100.0)
    assert abs(progress.at - time.time()) < 30
    # 5,000 reports over ~0.5 s: at most one write per 0.5 s plus the last, besides the
    # fetch, ack and statistics scripts of the drain.
    scripts = _progress_writes(redis_client) - before
    assert scripts < 20 + 2 * took / 0.5, scripts


def test_progress_is_seen_while_the_task_runs(
    setup: Any, bingo_settings: Any, tmp_path: Any
) -> None:
    settings, registry, manager, client = setup
    info = client.enqueue("p:half", {"n": 1})

    async def run() -> TaskProgress | None:
        work = asyncio.create_task(drain(settings, registry, manager))
        seen = None
        for _ in range(200):
            await asyncio.sleep(0.02)
            seen = await asyncio.to_thread(lambda: client.info(info.id).progress)
            if seen is not None:
                break
        GATE.set()
        await work
        return seen

    seen = asyncio.run(run())
    assert seen is not None and (seen.done, seen.total, seen.note) == (5, 10, "half")
    assert seen.text() == "5/10 (50%) half"


def test_bad_values_are_one_line_and_the_note_is_cut(setup: Any) -> None:
    settings, registry, manager, client = setup
    info = client.enqueue("p:bad", {"n": 1})
    asyncio.run(drain(settings, registry, manager))
    assert ERRORS == [
        "progress: done must not be negative, got -1",
        "progress: done must be a finite number, got 'x'",
        "progress: total must be a finite number, got nan",
        "progress: done must be a finite number, got True",
    ]
    progress = client.info(info.id).progress
    assert progress is not None and progress.total is None and len(progress.note) == 200
    assert progress.text() == "3 " + "x" * 200


def test_tasks_show_prints_progress(
    setup: Any, capsys: pytest.CaptureFixture[str], bingo_settings: Any, tmp_path: Any
) -> None:
    settings, registry, manager, client = setup
    info = client.enqueue("p:async", {"n": 40})
    asyncio.run(drain(settings, registry, manager))
    config = tmp_path / "bingo.yaml"
    config.write_text(f'redis:\n  url: "{bingo_settings.redis.url}"\n')
    assert cli_main(["-c", str(config), "tasks", "show", info.id]) == 0
    out = capsys.readouterr().out
    assert "progress      40/40 (100%) row 40\n" in out
    assert cli_main(["-c", str(config), "tasks", "show", info.id, "--json"]) == 0
    shown = capsys.readouterr().out
    assert '"done": 40.0' in shown and '"note": "row 40"' in shown


def test_a_task_with_no_progress_has_none(setup: Any) -> None:
    settings, registry, manager, client = setup
    info = client.enqueue("p:async", {"n": 0})
    asyncio.run(drain(settings, registry, manager))
    assert client.info(info.id).progress is None
    told = client.enqueue("p:async", {"n": 7})
    asyncio.run(drain(settings, registry, manager))

    async def read() -> Any:
        aclient = bingo.AsyncClient(app=client.app)
        try:
            return await aclient.info(told.id)
        finally:
            await aclient.aclose()
            await client.app.aclose()

    shown = asyncio.run(read())
    assert shown.progress is not None and shown.progress.text() == "7/7 (100%) row 7"
    assert client.info(info.id).to_dict()["progress"] is None
    with pytest.raises(bingo.TaskNotFound):
        client.info("nope")


def test_app_progress_record_round_trips() -> None:
    rec = TaskProgress.of(3, 4, "n", 1.5)
    assert TaskProgress.decode(rec.encode()) == rec
    assert TaskProgress.decode("not json") is None
    assert TaskProgress.json_schema()["required"] == ["done", "total", "note", "at"]
    assert App  # the app module imports cleanly with progress in TaskInfo

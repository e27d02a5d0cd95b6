"""The core as a platform, on real Redis, SQLite and MariaDB: the app builds every part,
handlers reach the database through ``ctx.db``, results are kept with retained tasks,
queues are paused and resumed, a failing startup hook leaves the daemon running."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import text

import bingo_core as bingo
from bingo_core.app import App
from bingo_core.config import load_settings
from bingo_core.testing import drain
from bingo_core.worker import Worker

SEEN: list[Any] = []


class Row(BaseModel):
    n: int


class Settings(BaseModel):
    greeting: str = "hello"


async def write_row(ctx: bingo.TaskContext, payload: Row) -> dict[str, Any]:
    # An async handler may use ctx.db() directly for short statements.
    with ctx.db() as session:
        session.execute(text("CREATE TABLE IF NOT EXISTS t_rows (n INTEGER)"))
        session.execute(text("INSERT INTO t_rows (n) VALUES (:n)"), {"n": payload.n})
        session.commit()
        count = session.execute(text("SELECT COUNT(*) FROM t_rows")).scalar_one()
    SEEN.append((ctx.settings.greeting, str(ctx.timezone)))
    return {"rows": count, "n": payload.n}


def sync_result(ctx: bingo.TaskContext, payload: Row) -> Any:
    if payload.n == 1:
        return {"big": "x" * 5000}  # over the test's worker.maxResultSize
    if payload.n == 2:
        return object()  # not JSON-serialisable
    return [payload.n, "ok"]


class Plugin:
    @bingo.hookimpl
    def bingo_register_settings(self, register: bingo.SettingsRegister) -> None:
        register(Settings)

    @bingo.hookimpl
    def bingo_register_tasks(self, register: bingo.TaskRegister) -> None:
        register("p:row", write_row, payload=Row, retention=60)
        register("p:result", sync_result, payload=Row, retention="2s")


class FailingStartup:
    @bingo.hookimpl
    def bingo_startup(self, settings: Any) -> None:
        raise RuntimeError("startup hook bug")


class GoodStartup:
    @bingo.hookimpl
    def bingo_startup(self, settings: Any) -> None:
        SEEN.append("good startup ran")


@pytest.fixture(autouse=True)
def _clear() -> None:
    SEEN.clear()


def make_app(redis_url: str, db_url: str, **overrides: str) -> App:
    settings = load_settings(
        None,
        env={},
        overrides={
            "redis.url": redis_url,
            "database.url": db_url,
            "server.timezone": "Asia/Shanghai",
            "worker.lease": "2s",
            **overrides,
        },
    )
    return App(settings, plugins=[Plugin()], entry_points=False)


@pytest.mark.parametrize("store", ["sqlite", "mysql"])
def test_handler_uses_ctx_db_and_its_result_is_kept(
    store: str, request: pytest.FixtureRequest, redis_url: str
) -> None:
    db_url = request.getfixturevalue("sqlite_url" if store == "sqlite" else "mariadb_url")
    app = make_app(redis_url, db_url, **{"plugins.plugin.greeting": "hi"})
    try:
        if store == "mysql":
            with app.db() as session:
                session.execute(text("DROP TABLE IF EXISTS t_rows"))
                session.commit()
        first = app.client.enqueue("p:row", {"n": 7})
        second = app.client.enqueue("p:row", {"n": 8})
        asyncio.run(drain(app.settings, app.registry, app.manager))
        done = app.inspector.find(second.id)
        assert done.state == "completed" and done.result == {"rows": 2, "n": 8}
        assert app.inspector.find(first.id).result == {"rows": 1, "n": 7}
        assert done.started_at is not None and done.completed_at is not None
        # ctx.settings is the plugin's validated model; ctx.timezone the server zone.
        assert SEEN == [("hi", "Asia/Shanghai"), ("hi", "Asia/Shanghai")]
        with app.db() as session:
            assert session.execute(text("SELECT COUNT(*) FROM t_rows")).scalar_one() == 2
            session.execute(text("DROP TABLE t_rows"))
            session.commit()
    finally:
        app.close()


def test_settings_default_when_the_config_has_no_section(redis_url: str, sqlite_url: str) -> None:
    app = make_app(redis_url, sqlite_url)
    try:
        app.client.enqueue("p:row", {"n": 1})
        asyncio.run(drain(app.settings, app.registry, app.manager))
        assert SEEN == [("hello", "Asia/Shanghai")]
    finally:
        app.close()


def test_results_are_bounded_and_expire_with_the_retention(
    redis_url: str, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(
        redis_url, sqlite_url, **{"worker.maxResultSize": "1000", "worker.recoverInterval": "0.1s"}
    )
    try:
        big = app.client.enqueue("p:result", {"n": 1})
        odd = app.client.enqueue("p:result", {"n": 2})
        fine = app.client.enqueue("p:result", {"n": 3})
        asyncio.run(drain(app.settings, app.registry, app.manager))
        assert app.inspector.find(fine.id).result == [3, "ok"]
        # Dropped with one warning naming the task; the task still completed.
        for info in (big, odd):
            found = app.inspector.find(info.id)
            assert found.state == "completed" and found.result is None
        warned = [r.getMessage() for r in caplog.records if "result dropped" in r.getMessage()]
        assert len(warned) == 2
        assert big.id in warned[0] and "maxResultSize" in warned[0]
        assert odd.id in warned[1] and "not JSON-serialisable" in warned[1]
        # The retention (2 s) runs out: a worker's janitor deletes the task and its result.
        time.sleep(2.2)

        async def until_deleted() -> None:
            worker = Worker(app)
            stop = asyncio.Event()
            runner = asyncio.create_task(worker.run(stop))

            def kept() -> bool:
                try:
                    app.inspector.find(fine.id)
                except bingo.TaskNotFound:
                    return False
                return True

            try:
                deadline = time.monotonic() + 10
                while await asyncio.to_thread(kept):
                    assert time.monotonic() < deadline, "not deleted within 10 s"
                    await asyncio.sleep(0.05)
            finally:
                stop.set()
                await runner
                await app.aclose()

        asyncio.run(until_deleted())
        with pytest.raises(bingo.TaskNotFound, match="retention"):
            app.inspector.find(fine.id)
    finally:
        app.close()


def test_pause_stops_fetching_and_resume_restarts_within_milliseconds(
    redis_url: str, sqlite_url: str
) -> None:
    app = make_app(redis_url, sqlite_url)
    picked: list[float] = []

    async def main() -> float:
        worker = Worker(app)
        stop = asyncio.Event()
        runner = asyncio.create_task(worker.run(stop))
        await asyncio.sleep(0.3)
        await asyncio.to_thread(app.inspector.pause, "default")
        await asyncio.to_thread(app.client.enqueue, "p:result", {"n": 3})
        await asyncio.sleep(1.5)  # longer than the idle block: paused means not fetched
        assert worker.processed == 0
        assert app.inspector.stats(["default"])[0].pending == 1
        resumed = time.monotonic()
        await asyncio.to_thread(app.inspector.resume, "default")
        while worker.processed == 0:
            await asyncio.sleep(0.001)
        picked.append(time.monotonic() - resumed)
        stop.set()
        await runner
        await app.aclose()
        return picked[0]

    delay = asyncio.run(main())
    assert delay < 0.1, f"resume took {delay * 1000:.1f} ms"


def test_a_startup_hook_that_raises_leaves_the_daemon_running(
    redis_url: str, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from bingo_core.daemon import _serve

    caplog.set_level(logging.INFO, logger="bingo")
    settings = load_settings(
        None,
        env={},
        overrides={"redis.url": redis_url, "database.url": sqlite_url, "worker.lease": "2s"},
    )
    app = App(settings, plugins=[FailingStartup(), GoodStartup(), Plugin()], entry_points=False)

    async def main() -> bool:
        served = asyncio.create_task(_serve(app, None))
        await asyncio.sleep(0.5)
        alive = not served.done()
        await asyncio.to_thread(
            App(settings, registry=app.registry).client.enqueue, "p:result", {"n": 3}
        )
        await asyncio.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)
        await served
        return alive

    assert asyncio.run(main())
    assert "good startup ran" in SEEN
    lines = [r.getMessage() for r in caplog.records]
    assert any("failingstartup" in line.lower() and "startup hook bug" in line for line in lines)
    assert any("worker stopped: processed=1" in line for line in lines)


def test_queues_cli_lists_pauses_resumes_and_deletes(tmp_path: Path, redis_url: str) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(json.dumps({"redis": {"url": redis_url}}))
    exe = str(Path(sys.executable).with_name("bingo-scheduler"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [exe, "-c", str(cfg), *args], capture_output=True, text=True, timeout=60
        )

    payload = json.dumps({"path": str(tmp_path / "out"), "value": "x"})
    assert run("enqueue", "test:record", "--payload", payload, "--queue", "mail").returncode == 0
    listed = json.loads(run("queues", "list", "--json").stdout)
    assert [(q["queue"], q["size"], q["paused"]) for q in listed] == [("mail", 1, False)]
    assert run("queues", "pause", "mail").returncode == 0
    assert json.loads(run("queues", "list", "--json").stdout)[0]["paused"] is True
    assert "yes" in run("stats").stdout  # stats shows the paused queue
    assert run("queues", "resume", "mail").returncode == 0
    refused = run("queues", "delete", "mail")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "error: queue 'mail' still holds 1 task(s); delete them first or use --force"
    ]
    deleted = run("queues", "delete", "mail", "--force", "--json")
    assert json.loads(deleted.stdout) == {"queue": "mail", "action": "delete", "deleted_tasks": 1}
    assert json.loads(run("queues", "list", "--json").stdout) == []
    unknown = run("queues", "delete", "nope")
    assert unknown.returncode == 2 and "unknown queue 'nope'" in unknown.stderr


def test_daily_figures_are_dated_in_the_server_zone(redis_url: str, sqlite_url: str) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    # UTC+14: the server's date is ahead of UTC's for ten hours of every UTC day.
    app = make_app(redis_url, sqlite_url, **{"server.timezone": "Pacific/Kiritimati"})
    try:
        app.client.enqueue("p:result", {"n": 3})
        asyncio.run(drain(app.settings, app.registry, app.manager))
        day = datetime.now(ZoneInfo("Pacific/Kiritimati")).date().isoformat()
        [row] = app.inspector.task_stats(day)
        assert (row.type, row.processed, row.failed) == ("p:result", 1, 0)
        stats = app.inspector.stats(["default"])[0]
        assert stats.processed_today == 1
        assert app.inspector.daily(1).days == [day]
    finally:
        app.close()

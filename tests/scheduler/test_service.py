"""The scheduler service on a real Redis: leader election, fencing, one enqueue per tick
under real concurrency, misfire within and over the grace, state for ``cron list``."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import bingo_test_plugin
import pytest
import redis

from bingo_core.app import App
from bingo_core.broker import AsyncBroker, Broker
from bingo_core.broker.keys import Keys
from bingo_core.broker.reader import Reader
from bingo_core.broker.schedstate import Record, SchedState
from bingo_core.config import Settings, load_settings
from bingo_core.records import HistoryItem
from bingo_core.registry import Registry, ScheduleEntry
from bingo_core.scheduler.entries import compile_entry
from bingo_core.scheduler.service import SchedulerService

BIN = str(Path(sys.executable).with_name("bingo-scheduler"))
TICK = "config|tick"
KEYS = Keys("bingo")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def every_second(tmp_path: Path, name: str = "tick", **options: Any) -> dict[str, Any]:
    return {
        "name": name,
        "spec": "* * * * * *",
        "type": "test:record",
        "payload": {"path": str(tmp_path / f"{name}.out"), "value": name},
        **options,
    }


def make_settings(
    tmp_path: Path,
    redis_url: str,
    schedules: list[dict[str, Any]] | None = None,
    database_url: str | None = None,
    **scheduler: Any,
) -> Settings:
    cfg = {
        "server": {"timezone": "UTC"},
        "redis": {"url": redis_url},
        "database": {"url": database_url or f"sqlite:///{tmp_path / 'bingo.db'}"},
        "log": {"level": "info", "console": True, "path": ""},
        "scheduler": {"leaderLease": "1s", "syncInterval": "1s", **scheduler},
        "schedules": schedules if schedules is not None else [every_second(tmp_path)],
    }
    path = tmp_path / "bingo.yaml"
    path.write_text(json.dumps(cfg))  # JSON is YAML
    return load_settings(path, env={})


def sync(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test on a fresh event loop."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


@pytest.fixture
def registry(bingo_registry: Callable[..., Registry]) -> Registry:
    return bingo_registry(bingo_test_plugin)


@pytest.fixture
def reader(bingo_settings: Settings) -> Iterator[Reader]:
    broker = Broker(bingo_settings.redis)
    yield broker.reader
    broker.close()


async def start(settings: Settings, registry: Registry) -> SchedulerService:
    service = SchedulerService(App(settings, registry=registry))
    await service.start()
    return service


async def stop(*services: SchedulerService) -> None:
    for service in services:
        if not getattr(service, "_stopped", False):
            service._stopped = True  # type: ignore[attr-defined]
            await service.stop()
            await service.broker.close()


async def crash(service: SchedulerService) -> None:
    """Stop a service the way SIGKILL would: no release, the lease is left to expire."""
    service._stopped = True  # type: ignore[attr-defined]
    for task in (service.lease._task, service.ticker._task, service._status.task):
        if task is not None:
            task.cancel()
    if service._sync_starter is not None:
        service._sync_starter.cancel()
    if service.sync is not None:
        await service.sync.stop()
    await asyncio.sleep(0)
    await service.broker.close()


async def wait_until(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``check`` until true; return the seconds it took."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what} not within {timeout}s")
        await asyncio.sleep(0.005)
    return time.monotonic() - started


def leaders(*services: SchedulerService) -> list[SchedulerService]:
    return [s for s in services if s.is_leader]


def enqueued_ticks(client: redis.Redis, entry_key: str, queue: str = "default") -> dict[int, str]:
    """Tick (epoch ms) -> task id, from the per-tick dedupe keys."""
    prefix = KEYS.queue(queue).tick(entry_key, 0)[:-1]
    return {int(k[len(prefix) :]): client.get(k) for k in client.scan_iter(prefix + "*")}


def pending_tasks(client: redis.Redis, queue: str = "default") -> list[dict[str, Any]]:
    q = KEYS.queue(queue)
    return [json.loads(client.hget(q.task(i), "msg")) for i in client.lrange(q.pending, 0, -1)]


def assert_each_tick_once(client: redis.Redis, entry_key: str = TICK) -> list[int]:
    """Every tick of the entry has exactly one pending task, and no tick in the span is
    missing; returns the ticks (epoch seconds)."""
    ticks = enqueued_ticks(client, entry_key)
    tasks = [t for t in pending_tasks(client) if t["source"] == entry_key]
    assert ticks, "nothing was enqueued"
    assert all(ms % 1000 == 0 for ms in ticks), sorted(ticks)
    assert sorted(ticks.values()) == sorted(t["id"] for t in tasks)
    assert len(set(ticks.values())) == len(ticks)
    seconds = sorted(ms // 1000 for ms in ticks)
    assert seconds == list(range(seconds[0], seconds[-1] + 1)), "a tick is missing"
    return seconds


@sync
async def test_one_leader_and_takeover_on_stop(
    tmp_path: Path, redis_url: str, registry: Registry, redis_client: redis.Redis
) -> None:
    settings = make_settings(tmp_path, redis_url)
    a, b = await start(settings, registry), await start(settings, registry)
    try:
        await wait_until(lambda: len(leaders(a, b)) == 1, 2, "a leader")
        await asyncio.sleep(1.2)
        assert len(leaders(a, b)) == 1  # still exactly one, renewals keep it
        leader, follower = (a, b) if a.is_leader else (b, a)
        assert redis_client.get(KEYS.scheduler.leader) == leader.daemon_id
        await stop(leader)
        # The lease was released, not left to expire: the follower takes it at its next try.
        assert redis_client.get(KEYS.scheduler.leader) in (None, follower.daemon_id)
        await wait_until(lambda: follower.is_leader, 3, "takeover after stop")
        await asyncio.sleep(1.1)
    finally:
        await stop(a, b)
    assert_each_tick_once(redis_client)


@sync
async def test_a_tick_is_built_ahead_and_sent_on_its_fire_time(
    tmp_path: Path, redis_url: str, registry: Registry, redis_client: redis.Redis
) -> None:
    """The leader wakes a few milliseconds before a tick to build its batch; nothing is
    sent before the tick: every history item was enqueued at or after it, and every task
    of it was enqueued (its message's time) at or after it."""
    service = await start(make_settings(tmp_path, redis_url), registry)
    try:
        await wait_until(lambda: service.is_leader, 2, "a leader")
        await asyncio.sleep(2.2)
    finally:
        await stop(service)
    history = Reader(service.app.settings.redis, redis_client).history(TICK, 100)
    fired = [h for h in history if h.task_id and h.enqueued_at is not None]
    assert len(fired) >= 2
    for item in fired:
        assert item.enqueued_at >= item.tick and (item.lateness or 0) >= 0, item
        msg = json.loads(redis_client.hget(KEYS.queue("default").task(item.task_id), "msg"))
        assert msg["enqueued_at"] >= item.tick, msg


@sync
async def test_takeover_after_crash_within_ttl_each_tick_once(
    tmp_path: Path,
    redis_url: str,
    registry: Registry,
    redis_client: redis.Redis,
    reader: Reader,
) -> None:
    # With a 2 s lease the gap after a crash always holds at least one tick.
    settings = make_settings(tmp_path, redis_url, leaderLease="2s")
    services = [await start(settings, registry) for _ in range(3)]
    await wait_until(lambda: len(leaders(*services)) == 1, 2, "a leader")
    await asyncio.sleep(2.5)
    (old,) = leaders(*services)
    fired_before = old.ticker.fired
    assert fired_before >= 2
    await crash(old)
    crashed_at = time.monotonic()
    rest = [s for s in services if s is not old]
    await wait_until(lambda: len(leaders(*rest)) == 1, 3, "takeover after crash")
    took = time.monotonic() - crashed_at
    assert took <= settings.scheduler.leader_lease + 0.5  # the TTL, plus slack for a busy CI
    await asyncio.sleep(2.5)
    await stop(*rest)
    seconds = assert_each_tick_once(redis_client)
    assert len(seconds) >= 5
    (new,) = [s for s in rest if s.ticker.fired]
    assert old.ticker.fired + new.ticker.fired == len(seconds)
    # The tick(s) due while no daemon led were fired late by the new leader, not dropped.
    history = reader.history(TICK, 100)
    assert sorted(h.tick or 0.0 for h in history) == [float(s) for s in seconds]
    assert max(h.lateness or 0.0 for h in history) > 0.3


@sync
async def test_fencing_refuses_a_superseded_leader(
    redis_url: str, bingo_settings: Settings, redis_client: redis.Redis
) -> None:
    broker = AsyncBroker(bingo_settings.redis)
    a, b = SchedState(broker, "host:1:aaa"), SchedState(broker, "host:2:bbb")
    try:
        ok, token_a = await a.acquire(5)
        assert ok
        assert await b.acquire(5) == (False, pytest.approx(5000, abs=100))
        assert await a.record(token_a, [Record("config|x", next=1.0)], 10)
        redis_client.delete(KEYS.scheduler.leader)  # the lease ran out
        ok, token_b = await b.acquire(5)
        assert ok and token_b == token_a + 1
        # The old leader, still believing it leads, can no longer write anything.
        assert not await a.renew(token_a, 5)
        assert not await a.record(token_a, [Record("config|x", next=2.0, missed=3)], 10)
        assert not await a.publish(token_a, [], ["config|x"])
        assert not await a.release(token_a)
        entry = redis_client.hgetall(KEYS.scheduler.entry("config|x"))
        assert entry == {"next": "1.0"}
        # Even with the old daemon id back in the lease, the stale token is refused.
        assert await b.release(token_b)
        assert (await a.acquire(5)) == (True, token_b + 1)
        assert not await a.renew(token_a, 5)
        assert await a.renew(token_b + 1, 5)
    finally:
        await broker.close()


@sync
async def test_split_brain_each_tick_enqueued_once(
    tmp_path: Path, redis_url: str, registry: Registry, redis_client: redis.Redis
) -> None:
    """A leader that stalls (stops renewing, yet trusts its lease) keeps firing beside the
    daemon that took over: the per-tick dedupe still lets each tick through once."""
    settings = make_settings(tmp_path, redis_url)
    stale = await start(settings, registry)
    await wait_until(lambda: stale.is_leader, 2, "a leader")
    await wait_until(lambda: stale.ticker.fired >= 2, 3, "two ticks")
    stale.lease._task.cancel()  # no more renewals...
    stale.lease._valid_until = time.monotonic() + 60  # ...but it still trusts its lease
    fresh = await start(settings, registry)
    await wait_until(lambda: fresh.is_leader, 2, "takeover")
    await wait_until(lambda: stale.lease.token is None, 3, "the stale leader fenced off")
    await asyncio.sleep(1.5)
    await stop(stale, fresh)
    assert stale.ticker.deduped + fresh.ticker.deduped >= 1, "the two never raced"
    seconds = assert_each_tick_once(redis_client)
    assert stale.ticker.fired + fresh.ticker.fired == len(seconds)


async def _run_once_then_stop(settings: Settings, registry: Registry) -> None:
    service = await start(settings, registry)
    await wait_until(lambda: service.ticker.fired >= 1, 3, "a first tick")
    await stop(service)


@pytest.mark.parametrize("behind", [5, 40])
@sync
async def test_misfire_fires_late_within_grace_and_counts_older_as_missed(
    behind: int,
    tmp_path: Path,
    redis_url: str,
    registry: Registry,
    redis_client: redis.Redis,
    reader: Reader,
    caplog: pytest.LogCaptureFixture,
) -> None:
    grace = 10
    settings = make_settings(tmp_path, redis_url, misfireGrace=f"{grace}s")
    await _run_once_then_stop(settings, registry)
    for key in redis_client.scan_iter(KEYS.queue("default").base + "*"):
        redis_client.delete(key)
    # The last leader handled a tick `behind` seconds ago, then every daemon was down.
    cursor = float(int(time.time()) - behind)
    redis_client.hset(KEYS.scheduler.cursors, TICK, repr(cursor))
    redis_client.delete(KEYS.scheduler.history(TICK))
    caplog.set_level(logging.INFO, logger="bingo.scheduler")
    service = await start(settings, registry)
    await wait_until(
        lambda: service.ticker.fired >= behind - service.ticker.missed + 1,
        5,
        "catch-up and one on-time tick",
    )
    await stop(service)
    seconds = assert_each_tick_once(redis_client)
    (entry,) = reader.entries()
    missed = entry.missed
    if behind <= grace:
        assert missed == 0
        assert seconds[0] == cursor + 1  # every tick since the cursor, fired late
    else:
        # The ticks older than the grace at take-over were skipped and counted, not fired.
        assert behind - grace - 2 <= missed <= behind - grace + 1
        assert seconds[0] == cursor + missed + 1
        assert f"{missed} tick(s)" in caplog.text and "skipped as missed" in caplog.text
        items = reader.history(TICK, 100)
        assert HistoryItem(missed=missed, from_=cursor + 1, to=cursor + missed) in items
    late = [h.lateness for h in reader.history(TICK, 100) if h.lateness is not None]
    assert max(late) <= grace + 1
    assert entry.last_fire == seconds[-1]
    assert entry.next_fire is not None and entry.next_fire > entry.last_fire


@sync
async def test_apply_adds_and_removes_entries_at_runtime(
    tmp_path: Path,
    redis_url: str,
    registry: Registry,
    redis_client: redis.Redis,
    reader: Reader,
) -> None:
    settings = make_settings(tmp_path, redis_url, schedules=[])
    service = await start(settings, registry)
    try:
        await wait_until(lambda: service.is_leader, 2, "leader")
        entry = ScheduleEntry(
            spec="* * * * * *",
            type="test:record",
            options={},
            source="db:7",
            name="row",
            payload={"path": str(tmp_path / "row.out"), "value": "row"},
        )
        service.apply([compile_entry(entry, registry, "UTC")], [], [])
        await wait_until(lambda: service.ticker.fired >= 2, 3, "two ticks of the new entry")
        assert [e.key for e in reader.entries()] == ["db:7|row"]
        service.apply([], [], ["db:7|row"])
        await asyncio.sleep(0.05)
        fired = service.ticker.fired
        await asyncio.sleep(1.2)
        assert service.ticker.fired == fired
        assert reader.entries() == []
        assert not redis_client.exists(KEYS.scheduler.history("db:7|row"))
    finally:
        await stop(service)
    assert_each_tick_once(redis_client, "db:7|row")


@sync
async def test_bad_static_entry_is_logged_and_the_rest_fire(
    tmp_path: Path,
    redis_url: str,
    registry: Registry,
    redis_client: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bad = {
        "name": "broken",
        "spec": "61 * * * *",
        "type": "test:record",
        "payload": {"path": "x", "value": "y"},
    }
    unknown = {"name": "nosuch", "spec": "* * * * *", "type": "test:nosuch"}
    settings = make_settings(tmp_path, redis_url, [bad, every_second(tmp_path), unknown])
    caplog.set_level(logging.INFO, logger="bingo.scheduler")
    service = await start(settings, registry)
    try:
        await wait_until(lambda: service.ticker.fired >= 1, 3, "a tick")
    finally:
        await stop(service)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("broken" in m and "61" in m for m in errors), errors
    assert any("nosuch" in m and "test:nosuch" in m for m in errors), errors
    assert_each_tick_once(redis_client)


@sync
async def test_database_down_static_entries_fire_and_cron_list_shows_state(
    tmp_path: Path, redis_url: str, registry: Registry, redis_client: redis.Redis
) -> None:
    down = f"mysql+pymysql://root:@127.0.0.1:{free_port()}/bingo"
    settings = make_settings(tmp_path, redis_url, database_url=down)
    service = await start(settings, registry)
    config = str(tmp_path / "bingo.yaml")
    try:
        await wait_until(lambda: service.ticker.fired >= 2, 4, "two ticks")
        await wait_until(lambda: redis_client.exists(KEYS.scheduler.sync) == 1, 4, "sync status")
        listed = await asyncio.to_thread(cli, config, "cron", "list", "--json", "--history", "5")
        table = await asyncio.to_thread(cli, config, "cron", "list")
    finally:
        await stop(service)
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    (entry,) = data["entries"]
    assert entry["key"] == TICK and entry["source"] == "config" and entry["name"] == "tick"
    assert entry["spec"] == "* * * * * *" and entry["type"] == "test:record"
    assert entry["timezone"] == "UTC" and entry["queue"] == "default"
    assert entry["last_task_id"] and entry["missed"] == 0
    assert entry["next_fire"] > entry["last_fire"]
    assert entry["history"][0]["task_id"] == entry["last_task_id"]
    assert data["leader"]["id"] == service.daemon_id
    assert data["sync"]["db_ok"] is False
    assert down.split("@")[1].split("/")[0] in data["sync"]["db_error"]
    assert table.returncode == 0, table.stderr
    line = next(x for x in table.stdout.splitlines() if x.startswith("config"))
    source, name, *spec, zone, task_type, _, _, _, _, last_task, missed = line.split()
    assert (source, name, " ".join(spec), zone, task_type) == (
        "config",
        "tick",
        "* * * * * *",
        "UTC",
        "test:record",
    )
    assert last_task in enqueued_ticks(redis_client, TICK).values() and missed == "0"
    assert f"leader: {service.daemon_id}" in table.stdout
    assert "database:" in table.stdout


def cli(config: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BINGO_PLUGINS": "testplug"}
    return subprocess.run(
        [BIN, "-c", config, *args], capture_output=True, text=True, timeout=60, env=env
    )


@sync
async def test_a_store_whose_driver_is_missing_is_one_line_and_the_static_entries_fire(
    tmp_path: Path,
    redis_url: str,
    registry: Registry,
    redis_client: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bingo")
    url = "mysql+mysqldb://root:S3cret-driver@127.0.0.1:3306/bingo"
    settings = make_settings(tmp_path, redis_url, database_url=url, syncInterval="200ms")
    service = await start(settings, registry)
    try:
        await wait_until(lambda: service.ticker.fired >= 2, 4, "two ticks")
        await wait_until(lambda: redis_client.exists(KEYS.scheduler.sync) == 1, 4, "sync status")
        status = json.loads(redis_client.get(KEYS.scheduler.sync) or "{}")
    finally:
        await stop(service)
    said = [r.getMessage() for r in caplog.records if "cannot load the driver" in r.getMessage()]
    assert len(said) == 1, said  # tried every 200 ms, said once (then once a minute)
    assert said[0].startswith("sys_crontab sync: database.url 'mysql+mysqldb://root:***@")
    assert "the static entries fire" in said[0] and "S3cret-driver" not in caplog.text
    assert status["db_ok"] is False and "cannot load the driver" in status["db_error"]
    assert service.sync is None

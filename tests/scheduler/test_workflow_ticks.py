"""Schedule entries that start a workflow, on a real Redis: each tick starts its workflow
exactly once, also when two schedulers share the Redis and both fire (a stalled leader
beside the one that took over), or when the leader is killed and another takes over; a
tick sent twice is refused as a workflow id in use."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bingo_test_plugin
import pytest
import redis
from test_ha import LEASE, scheduler_daemon, wait_leader, write_config
from test_service import make_settings, start, stop, sync, wait_until

from bingo_core.app import App
from bingo_core.broker import Broker
from bingo_core.broker.keys import Keys
from bingo_core.broker.reader import Reader
from bingo_core.config import Settings
from bingo_core.registry import Registry
from bingo_core.scheduler.entries import compile_static
from bingo_core.scheduler.flows import start_tick_workflows, tick_workflow_id

KEYS = Keys("bingo")
ENTRY = "config|etl"
TICK_ID = re.compile(r"wf-tick-[0-9a-f]{16}-(\d+)")


@pytest.fixture
def registry(bingo_registry: Any) -> Registry:
    return bingo_registry(bingo_test_plugin)


@pytest.fixture
def reader(bingo_settings: Settings) -> Iterator[Reader]:
    broker = Broker(bingo_settings.redis)
    yield broker.reader
    broker.close()


def workflow_entry(tmp_path: Path, spec: str = "* * * * * *") -> dict[str, Any]:
    """An entry whose ticks start extract -> group(transform x2) -> load."""

    def record(value: str) -> dict[str, Any]:
        return {"type": "test:record", "payload": {"path": str(tmp_path / "out"), "value": value}}

    flow = {"chain": [record("extract"), {"group": [record("t1"), record("t2")]}, record("load")]}
    return {"name": "etl", "spec": spec, "workflow": flow}


def tick_workflows(client: redis.Redis) -> dict[int, str]:
    """Fire time (ms) -> workflow id, of the workflows the entry's ticks started."""
    q = KEYS.queue("default")
    out: dict[int, str] = {}
    for wf in client.zrange(q.workflows, 0, -1):
        match = TICK_ID.fullmatch(wf)
        assert match, wf
        out[int(match.group(1))] = wf
    return out


@sync
async def test_two_schedulers_start_each_ticks_workflow_once(
    tmp_path: Path,
    redis_url: str,
    registry: Registry,
    redis_client: redis.Redis,
    reader: Reader,
) -> None:
    """A leader that stalls (stops renewing, yet trusts its lease) keeps firing beside the
    daemon that took over: each tick's workflow is still started once."""
    settings = make_settings(tmp_path, redis_url, [workflow_entry(tmp_path)])
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

    started = tick_workflows(redis_client)
    seconds = sorted(ms // 1000 for ms in started)
    assert all(ms % 1000 == 0 for ms in started)
    assert seconds == list(range(seconds[0], seconds[-1] + 1)), "a tick is missing"
    assert stale.ticker.fired + fresh.ticker.fired == len(started) >= 3
    q = KEYS.queue("default")
    for ms, wf in started.items():
        assert wf == tick_workflow_id(ENTRY, ms / 1000)
        record = redis_client.hgetall(q.workflow(wf))
        assert (record["total"], record["shape"]) == ("4", "[.{..}.]")
    # Only each workflow's first step is pending; the others wait for it.
    pending = redis_client.lrange(q.pending, 0, -1)
    assert len(pending) == len(started)
    msgs = [json.loads(redis_client.hget(q.task(i), "msg")) for i in pending]
    assert sorted(m["workflow"] for m in msgs) == sorted(started.values())
    assert {m["payload"]["value"] for m in msgs} == {"extract"}
    # The entry's history names each tick's workflow.
    history = [json.loads(h) for h in redis_client.lrange(KEYS.scheduler.history(ENTRY), 0, -1)]
    assert sorted({h["task_id"] for h in history}) == sorted(started.values())
    (entry,) = reader.entries()  # what cron list and the dashboard show
    assert entry.type == "workflow: test:record -> group(test:record x2) -> test:record"
    assert (entry.key, entry.queue, entry.last_task_id) == (ENTRY, "default", started[max(started)])


@sync
async def test_a_tick_sent_twice_starts_its_workflow_once(
    tmp_path: Path, redis_url: str, registry: Registry, redis_client: redis.Redis
) -> None:
    entry = workflow_entry(tmp_path, "0 2 * * *")
    entry["onFailure"] = {"type": "test:record", "payload": {"path": "/tmp/x", "value": "alert"}}
    settings = make_settings(tmp_path, redis_url, [entry])
    (compiled,), errors = compile_static(settings, registry)
    assert errors == []
    app = App(settings, registry=registry)
    client = app.async_client()
    try:
        tick = float(int(time.time()))
        both = await asyncio.gather(
            start_tick_workflows(client, [(compiled.entry, tick)]),
            start_tick_workflows(client, [(compiled.entry, tick)]),
        )
        again = await start_tick_workflows(
            client, [(compiled.entry, tick), (compiled.entry, tick + 1)]
        )
    finally:
        await client.broker.close()
        app.close()
    results = [r for batch in both for r in batch]
    wf = tick_workflow_id(ENTRY, tick)
    assert sorted((r.task_id, r.enqueued, r.duplicate) for r in results) == [
        (wf, False, True),
        (wf, True, False),
    ]
    assert [(r.task_id, r.enqueued, r.duplicate) for r in again] == [
        (wf, False, True),
        (tick_workflow_id(ENTRY, tick + 1), True, False),
    ]
    q = KEYS.queue("default")
    assert redis_client.zcard(q.workflows) == 2
    assert redis_client.llen(q.pending) == 2
    # The entry's on_failure step goes with each workflow, to run if it fails.
    alert = json.loads(redis_client.hget(q.workflow(wf), "on_failure"))
    assert alert["type"] == "test:record" and alert["payload"]["value"] == "alert"


@sync
async def test_a_tick_over_queues_sent_twice_starts_its_workflow_once(
    tmp_path: Path, redis_url: str, registry: Registry, redis_client: redis.Redis
) -> None:
    entry = workflow_entry(tmp_path, "0 2 * * *")
    entry["workflow"]["chain"][1]["group"][1]["queue"] = "red"  # t2
    entry["workflow"]["chain"][2]["queue"] = "blue"  # load
    settings = make_settings(tmp_path, redis_url, [entry])
    (compiled,), errors = compile_static(settings, registry)
    assert errors == []
    app = App(settings, registry=registry)
    client = app.async_client()
    try:
        tick = float(int(time.time()))
        both = await asyncio.gather(
            start_tick_workflows(client, [(compiled.entry, tick)]),
            start_tick_workflows(client, [(compiled.entry, tick)]),
        )
    finally:
        await client.broker.close()
        app.close()
    wf = tick_workflow_id(ENTRY, tick)
    assert sorted((r.task_id, r.enqueued, r.duplicate) for batch in both for r in batch) == [
        (wf, False, True),
        (wf, True, False),
    ]
    home, red, blue = (KEYS.queue(q) for q in ("default", "red", "blue"))
    assert redis_client.hget(home.workflow(wf), "total") == "4"
    assert redis_client.llen(home.pending) == 1  # extract
    assert redis_client.zcard(red.waiting) == redis_client.zcard(blue.waiting) == 1  # once
    assert redis_client.hget(red.workflows_away, wf) == "default"


@pytest.mark.slow
def test_leader_killed_each_ticks_workflow_started_once(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    """Two daemons (real processes) on one Redis; the leader is SIGKILLed mid-run: the one
    that takes over fires the ticks due meanwhile late, and every second still starts
    exactly one workflow."""
    config = write_config(tmp_path, redis_url)
    settings = json.loads(config.read_text())
    settings["schedules"] = [workflow_entry(tmp_path)]
    config.write_text(json.dumps(settings))
    daemons = [scheduler_daemon(config) for _ in range(2)]
    try:
        for d in daemons:
            d.wait_for("bingo-scheduler started")
        first = wait_leader(redis_client, None, 5)
        old = next(d for d in daemons if d.proc.pid == int(first.split(":")[-2]))
        time.sleep(2.2)
        old.proc.send_signal(signal.SIGKILL)
        old.proc.wait()
        wait_leader(redis_client, first, LEASE + 2)
        time.sleep(2.2)
        (new,) = [d for d in daemons if d is not old]
        new.proc.send_signal(signal.SIGTERM)
        assert new.proc.wait(20) == 0, new.log
    finally:
        for d in daemons:
            d.close()
    started = tick_workflows(redis_client)
    seconds = sorted(ms // 1000 for ms in started)
    assert seconds == list(range(seconds[0], seconds[-1] + 1)), "a tick started no workflow"
    assert len(seconds) >= 5
    history = [json.loads(h) for h in redis_client.lrange(KEYS.scheduler.history(ENTRY), 0, -1)]
    assert sorted(h["tick"] for h in history) == [float(s) for s in seconds]
    assert sorted(h["task_id"] for h in history) == sorted(started.values())
    assert any(h["lateness"] > 0.3 for h in history), "no tick was fired late"

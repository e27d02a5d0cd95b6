"""/metrics read from Redis at scrape time, and /healthz; neither needs a key."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bingo_core.app import App

from .helpers import heartbeat, publish_entries, seed
from .test_pages import ENTRY


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_from_redis(app: App, anon: Any) -> None:
    ids = seed(app)
    heartbeat(app)
    now = time.time()
    item = {"tick": now - 61, "task_id": ids["pending"][0], "enqueued_at": now - 60.8}
    publish_entries(app, [ENTRY], {ENTRY["key"]: item})

    async def stats() -> None:
        broker = app.async_broker()
        try:
            buckets = [0] * 16
            buckets[3] = 4
            await broker.record_stats({"default": [("demo:greet", 4, 1, 0.12, 0.05, buckets)]})
        finally:
            await broker.close()
            app._async_broker = None

    import asyncio

    asyncio.run(stats())
    r = anon.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    got = samples(r.text)
    q = (("queue", "default"),)
    assert got[("bingo_up", ())] == 1
    assert got[("bingo_queue_tasks", (("queue", "default"), ("state", "pending")))] == 3
    assert got[("bingo_queue_tasks", (("queue", "default"), ("state", "archived")))] == 2
    assert got[("bingo_queue_paused", q)] == 0
    assert ("bingo_queue_latency_seconds", q) in got
    assert ("bingo_queue_processed_total", q) in got
    t = (("queue", "default"), ("type", "demo:greet"))
    assert got[("bingo_task_processed_total", t)] == 4
    assert got[("bingo_task_failed_total", t)] == 1
    assert got[("bingo_task_duration_seconds_count", t)] == 4
    assert got[("bingo_task_duration_seconds_bucket", tuple(sorted((*t, ("le", "0.05")))))] == 4
    assert got[("bingo_task_duration_seconds_bucket", tuple(sorted((*t, ("le", "0.025")))))] == 0
    assert got[("bingo_scheduler_entries", (("source", "plugin"),))] == 1
    assert got[("bingo_scheduler_fired_entries", (("source", "plugin"),))] == 1
    assert got[("bingo_scheduler_leader", ())] == 1
    assert got[("bingo_scheduler_fire_lateness_seconds_gcount", ())] == 1
    assert got[("bingo_scheduler_fire_lateness_seconds_bucket", (("le", "0.25"),))] == 1
    assert got[("bingo_servers", (("status", "live"),))] == 1
    assert got[("bingo_worker_concurrency", ())] == 8
    assert ("bingo_sync_rows", (("state", "bad"),)) in got


def test_healthz(anon: Any, bingo_redis_server: Any) -> None:
    r = anon.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    bingo_redis_server.stop()  # the next test's fixture starts it again
    r = anon.get("/healthz")
    assert r.status_code == 503
    assert r.json()["status"] == "unavailable" and "not reachable" in r.json()["error"]
    metrics = anon.get("/metrics")
    assert metrics.status_code == 200 and "bingo_up 0.0" in metrics.text
    page = anon.get("/queue/api/overview", headers={"Authorization": "Bearer x"})
    assert page.status_code == 401

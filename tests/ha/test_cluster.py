"""Redis Cluster with real processes: three masters (``redis-server --cluster-enabled yes``
joined by ``redis-cli --cluster create``), queues whose keys live in different slots on
different nodes, and every script of the data layer run against it: enqueue (one task, and
many across queues), fetch, ack, retry and archive through a real worker draining two
queues, requeue, recover, task_move through the inspector, queue_delete, stats_record, and
every sched_* script through a daemon whose scheduler holds its lease and fires an
``@every 1s`` entry. ``check`` reports the mode and each node, and fails, one line per node,
when a node is down."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from daemon_helpers import BIN, Daemon
from limits_helpers import ENDS, STARTS, install, load, most_at_once, records

from bingo_core.app import App
from bingo_core.broker import DashboardStore
from bingo_core.broker.keys import Keys
from bingo_core.client import AsyncClient, Client
from bingo_core.config import load_settings
from bingo_core.plugins import PluginManager
from bingo_core.records import RecoverResult
from bingo_core.registry import Registry
from bingo_core.testing import drain
from bingo_core.worker import Worker

from .conftest import cluster_redis, write_config
from .redis_ha import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

KEYS = Keys("bingo")
#: Two worker queues whose slots are served by different masters (asserted below).
QUEUES = {"default": 1, "low": 2}


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def run_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BIN, "-c", str(config), *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "BINGO_PLUGINS": "testplug"},
    )


def test_queues_live_on_different_slots_and_nodes(cluster: Cluster) -> None:
    default, low = KEYS.queue("default"), KEYS.queue("low")
    slots = {cluster.keyslot(default.pending), cluster.keyslot(low.pending)}
    assert len(slots) == 2
    assert cluster.owner(default.pending) != cluster.owner(low.pending)
    # One queue's keys, and the scheduler's, each share one slot.
    for q in (default, low):
        keys = [q.pending, q.lease, q.notify, q.task("x"), q.unique("d"), q.tick("e", 1)]
        assert len({cluster.keyslot(k) for k in keys}) == 1
    s = KEYS.scheduler
    assert len({cluster.keyslot(k) for k in (s.leader, s.epoch, s.entry("a"), s.history("b"))}) == 1


def test_every_task_script_on_a_cluster(
    cluster: Cluster, make_app: Callable[..., App], registry: Registry, tmp_path: Path
) -> None:
    app = make_app(cluster_redis(cluster), **{"worker.queues": json.dumps(QUEUES)})
    client = Client(app=app)
    inspector = app.inspector
    out, fail, skip = tmp_path / "out.txt", tmp_path / "fail.txt", tmp_path / "skip.txt"

    # enqueue.lua: one task with an id of its own, one with a unique lock.
    client.enqueue("test:record", {"path": str(out), "value": "one"}, queue="low", task_id="t1")
    client.enqueue("test:record", {"path": str(out), "value": "u"}, queue="default", unique=60)
    # enqueue_fast.lua, streamed in chunks, tasks of both queues in one call.
    ids = client.enqueue_many(
        ("test:record", {"path": str(out), "value": f"m{i}"}, {"queue": ["default", "low"][i % 2]})
        for i in range(600)
    )
    assert len(ids) == 600
    # A script cache flushed on every node: scripts are loaded again where they run.
    for port in cluster.ports:
        cluster.client(port).script_flush()
    # retry.lua (fails once), archive.lua (SkipRetry).
    client.enqueue("test:fail", {"path": str(fail), "value": "f", "fail_times": 1})
    client.enqueue("test:skip", {"path": str(skip), "value": "s"}, queue="low")
    # task_move.lua through the inspector: run one scheduled task now, delete another.
    later = client.enqueue("test:record", {"path": str(out), "value": "moved"}, process_in=3600)
    gone = client.enqueue("test:record", {"path": str(out), "value": "x"}, process_in=3600)
    inspector.act("run", later.id)
    inspector.act("delete", gone.id, "default")
    assert inspector.find(later.id).state == "pending"

    async def lease_then_give_back() -> tuple[int, RecoverResult]:
        broker = app.async_broker()
        try:
            # requeue.lua: a worker hands a leased task back.
            fetched = await broker.fetch("default", 1, time.time() + 60, "w-requeue")
            requeued = await broker.requeue("default", [fetched.leased[0].id], "w-requeue")
            # recover.lua: a task whose lease expired goes back to pending.
            await broker.fetch("low", 1, time.time() - 1, "w-gone")
            return requeued, await broker.recover("low", "lease expired")
        finally:
            await app.aclose()

    requeued, recovered = asyncio.run(lease_then_give_back())
    assert requeued == 1 and recovered.requeued == 1, recovered

    # fetch.lua, ack.lua, retry.lua, archive.lua, stats_record.lua: a real worker drains
    # both queues (it waits for work with one BLPOP per queue).
    asyncio.run(drain(app=app, timeout=30))
    values = lines(out)
    assert sorted(values) == sorted(["one", "u", "moved", *(f"m{i}" for i in range(600))])
    assert lines(fail) == ["f", "f"] and lines(skip) == ["s"]
    stats = {s.queue: s for s in inspector.stats()}
    assert stats["default"].processed == 300 + 3 + 1  # the retried attempt counts
    assert stats["low"].archived == 1
    by_type = {r.type: r for r in inspector.task_stats(queues=["default"])}
    assert by_type["test:record"].processed == 302
    assert by_type["test:fail"].failed == 1
    assert by_type["test:fail"].last_error and by_type["test:fail"].last_error_at
    failures = inspector.failures()
    assert [(f.queue, f.type, f.state) for f in failures.failures] == [
        ("low", "test:skip", "archived")
    ]

    # queue_delete.lua in batches, then the queue is forgotten.
    assert inspector.delete_queue("low", force=True) >= 1
    assert "low" not in inspector.queues()


def test_idle_worker_wakes_at_once_for_either_queue(
    cluster: Cluster, make_app: Callable[..., App], tmp_path: Path
) -> None:
    """An idle worker blocks on both queues' notify lists (different slots) and starts a
    new task within milliseconds, not at the end of its 1 s wait."""
    app = make_app(cluster_redis(cluster), **{"worker.queues": json.dumps(QUEUES)})
    out = tmp_path / "out.txt"

    async def main() -> list[float]:
        stop = asyncio.Event()
        worker = Worker(app)
        runner = asyncio.create_task(worker.run(stop))
        client = AsyncClient(app=app)
        took = []
        try:
            await asyncio.sleep(1.5)  # idle, blocked on both lists
            for i in range(6):
                queue = ["default", "low"][i % 2]
                sent = time.monotonic()
                await client.enqueue(
                    "test:record", {"path": str(out), "value": str(i)}, queue=queue
                )
                while len(lines(out)) <= i:
                    assert time.monotonic() - sent < 5
                    await asyncio.sleep(0.002)
                took.append(time.monotonic() - sent)
                await asyncio.sleep(0.3)
        finally:
            stop.set()
            await runner
            await app.aclose()
        return took

    took = sorted(asyncio.run(main()))
    assert took[len(took) // 2] < 0.25, took


def test_scheduler_and_check_on_a_cluster(cluster: Cluster, tmp_path: Path) -> None:
    ticks = tmp_path / "ticks.txt"
    config = write_config(
        tmp_path / "bingo.yaml",
        cluster_redis(cluster),
        worker={"queues": QUEUES},
        scheduler={"enabled": True, "leaderLease": "2s", "syncInterval": "1s"},
        schedules=[
            {
                "name": "every-second",
                "spec": "@every 1s",
                "type": "test:record",
                "payload": {"path": str(ticks), "value": "tick"},
            }
        ],
    )
    assert run_cli(config, "db", "init").returncode == 0
    checked = run_cli(config, "check")
    assert checked.returncode == 0, checked.stderr
    assert "Redis at cluster of 3 masters" in checked.stdout
    for node in cluster.nodes:
        assert node in checked.stdout
    assert "slots 0-5460" in checked.stdout and "slots 10923-16383" in checked.stdout

    s = KEYS.scheduler
    node = cluster.client(int(cluster.owner(s.leader).rsplit(":", 1)[1]))
    daemon = Daemon(config, "--no-dashboard", env={"BINGO_PLUGINS": "testplug"})
    try:
        daemon.wait_for("worker ready")
        deadline = time.monotonic() + 15
        while len(lines(ticks)) < 4:  # held for > leaderLease: sched_renew works
            assert time.monotonic() < deadline, daemon.log
            time.sleep(0.05)
        leader = node.get(s.leader)  # sched_acquire
        assert leader and int(node.get(s.epoch) or 0) >= 1
        assert node.pttl(s.leader) > 0
        entry = "config|every-second"
        assert entry in node.smembers(s.entries)  # sched_publish
        assert node.hget(s.entry(entry), "last_tick")  # sched_record
        assert node.llen(s.history(entry)) >= 3
        listed = run_cli(config, "cron", "list", "--json")
        assert listed.returncode == 0 and "every-second" in listed.stdout, listed.stderr
        assert daemon.stop() == 0, daemon.log
        assert node.get(s.leader) is None  # sched_release
        assert "Traceback" not in daemon.log
    finally:
        daemon.close()


def test_check_names_each_cluster_node_down(tmp_path: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="bingo-cluster-") as root:
        cluster = Cluster(Path(root))
        try:
            cluster.start()
            config = write_config(tmp_path / "bingo.yaml", cluster_redis(cluster))
            dead = cluster.ports[1]
            cluster.kill(dead)
            started = time.monotonic()
            checked = run_cli(config, "check", "--json")
            took = time.monotonic() - started
            report = json.loads(checked.stdout)
            problems = [p["message"] for p in report["problems"] if p["what"] == "redis"]
            assert checked.returncode == 1
            assert report["summary"]["redis_mode"] == "cluster"
            assert [p for p in problems if f":{dead}" in p] == [
                f"Redis cluster node 127.0.0.1:{dead} (slots 5461-10922) is not reachable: "
                f"Connection refused (127.0.0.1:{dead})"
            ]
            nodes = {n["address"]: n["ok"] for n in report["summary"]["redis_nodes"]}
            assert nodes == {n: not n.endswith(f":{dead}") for n in cluster.nodes}
            assert took < 5
            # Every node down: one line, fast.
            for port in list(cluster.procs):
                cluster.kill(port)
            checked = run_cli(config, "stats")
            assert checked.returncode == 1
            assert checked.stderr.count("\n") == 1 and "Traceback" not in checked.stderr
            assert "no cluster node answered" in checked.stderr, checked.stderr
        finally:
            cluster.close()


def test_dashboard_secret_and_logins_on_a_cluster(
    cluster: Cluster, make_app: Callable[..., App]
) -> None:
    app = make_app(cluster_redis(cluster))
    store = DashboardStore(app.broker)
    assert store.swap_secret("", "first") == "first"
    assert store.swap_secret("stale", "mine") == "first"
    refs = [f"ref{i}" for i in range(30)]
    for ref in refs:
        store.start_session(ref, "admin", 60)
    keys = [app.broker.keys.dashboard_session(ref) for ref in refs]
    nodes = {app.broker.redis.get_node_from_key(key).name for key in keys}
    assert len(nodes) > 1  # the logins are spread over the masters
    assert store.end_sessions() == len(refs)
    assert all(store.session_role(ref) is None for ref in refs)
    assert store.secret() == "first"


def limits_app(cluster: Cluster, tmp_path: Path, queue_limits: dict[str, Any]) -> App:
    """An app on the cluster with the limits test plugin, serving both queues."""
    install(tmp_path / "plugin")
    manager = PluginManager()
    manager.add(load(tmp_path / "plugin"), "limits")
    return App(
        load_settings(
            None,
            env={},
            overrides={
                **{
                    f"redis.{k}": v if isinstance(v, str) else json.dumps(v)
                    for k, v in cluster_redis(cluster).items()
                },
                "worker.concurrency": "8",
                "worker.queues": json.dumps(QUEUES),
                "worker.queueLimits": json.dumps(queue_limits),
            },
        ),
        registry=manager.collect(),
    )


def test_limits_on_a_cluster(cluster: Cluster, tmp_path: Path, redis_url: str) -> None:
    """A type with a concurrency limit per limit_key value in two queues on different
    nodes, one of them with a queue limit: fetch's admission and wake-ups and ack's
    release run in each queue's slot, and every limit holds (the handlers record their
    start and end times on a plain Redis beside the cluster)."""
    app = limits_app(cluster, tmp_path, {"low": {"concurrency": 1}})
    try:
        Client(app=app).enqueue_many(
            ("lim:key", {"url": redis_url, "sleep": 0.1, "customer": "ab"[i % 2]}, {"queue": q})
            for i in range(6)
            for q in ("default", "low")
        )
        asyncio.run(drain(app=app, timeout=30))
        stats = {s.queue: s for s in app.inspector.stats()}
    finally:
        app.close()
    assert stats["default"].processed == stats["low"].processed == 6
    assert stats["default"].throttled == stats["low"].throttled == 0
    plain = redis.Redis.from_url(redis_url)
    try:
        done = records(plain, ENDS)
    finally:
        plain.close()
    assert len(done) == 12
    # Limits count per queue: per customer one at a time in each; "low" one at a time.
    # (Whether a customer's tasks of the two queues met at all is the machine's timing:
    # only the bounds are the limits'.)
    for customer in "ab":
        assert most_at_once([d for d in done if d["customer"] == customer]) <= 2
    assert 2 <= most_at_once(done) <= 3


def test_rate_limits_and_held_by_on_a_cluster(
    cluster: Cluster, tmp_path: Path, redis_url: str
) -> None:
    """A rate-limited type (10/s) in two queues on different nodes, "low" also limited to
    5/s: a held-back task says so, and the handlers start at least the spacing apart in
    each queue (its start times kept in :next, in the queue's slot)."""
    app = limits_app(cluster, tmp_path, {"low": {"rateLimit": "5/s"}})
    try:
        client = Client(app=app)
        client.enqueue_many(
            ("lim:rate", {"url": redis_url, "n": i}, {"queue": q})
            for i in range(5)
            for q in ("default", "low")
        )

        async def lease_and_ack() -> None:
            broker = app.async_broker()
            try:
                got = await broker.fetch("default", 10, time.time() + 30, "test")
                assert len(got.leased) == 1  # the next start is 100 ms on: held
                await broker.ack("default", [(got.leased[0].id, 0.0, "", "")], "test")
            finally:
                await app.aclose()

        asyncio.run(lease_and_ack())
        assert [(r.type, r.held) for r in app.inspector.throttled(["default"])] == [("lim:rate", 4)]
        held = app.broker.redis.lrange(KEYS.queue("default").limit("lim:rate", "held"), -1, -1)
        why = client.info(held[0].decode(), queue="default").held_by or ""
        assert why.startswith("held back by rate_limit=10/1s (next start in 0."), why
        asyncio.run(drain(app=app, timeout=30))
    finally:
        app.close()
    plain = redis.Redis.from_url(redis_url)
    try:
        starts = records(plain, STARTS)
    finally:
        plain.close()
    assert len(starts) == 9
    for queue, spacing in (("default", 0.1), ("low", 0.2)):
        times = sorted(d["start"] for d in starts if d["queue"] == queue)
        # One task of slack: any span holding k starts lasts at least (k - 2) spacings (a
        # start delayed by the machine may be followed closely by the next one on time).
        for i, j in itertools.combinations(range(len(times)), 2):
            assert times[j] - times[i] > (j - i - 1) * spacing - 0.02, (queue, times)

"""Redis Sentinel with real processes: a daemon (``bingo-scheduler`` with ``redis.sentinel``)
processes a stream of tasks and fires an ``@every 1s`` entry; the master is SIGKILLed; the
sentinels promote the replica, and processing and scheduling go on. The daemon logs the
outage in one line per part (no traceback) and the recovery in one.

What a failover loses is counted, not assumed: Redis replication is asynchronous, so an
enqueue the old master acknowledged but had not yet sent to the replica is gone."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from daemon_helpers import Daemon, cli

from bingo_core.app import App
from bingo_core.client import Client
from bingo_core.errors import ServiceUnavailable

from .conftest import sentinel_redis, write_config
from .redis_ha import SentinelGroup

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

#: Tasks per second the producer enqueues while the master is killed.
RATE = 100


class Producer(threading.Thread):
    """Enqueues ``test:record`` tasks numbered 0, 1, ... at :data:`RATE` per second and
    notes which enqueues Redis acknowledged and when, and which failed."""

    def __init__(self, client: Client, out: Path) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.out = out
        self.acked: dict[str, float] = {}
        self.refused: list[tuple[str, float, str]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        i = 0
        while not self.halt.is_set():
            value = str(i)
            i += 1
            try:
                self.client.enqueue("test:record", {"path": str(self.out), "value": value})
                self.acked[value] = time.monotonic()
            except ServiceUnavailable as exc:
                self.refused.append((value, time.monotonic(), str(exc)))
            time.sleep(1 / RATE)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_daemon_rides_a_sentinel_failover(
    tmp_path: Path, sentinel_group: SentinelGroup, make_app: Callable[..., App]
) -> None:
    out, ticks = tmp_path / "out.txt", tmp_path / "ticks.txt"
    redis = sentinel_redis(sentinel_group)
    config = write_config(
        tmp_path / "bingo.yaml",
        redis,
        worker={"concurrency": 8},
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
    report = json.loads(cli(config, "check", "--json", check=False).stdout)
    assert report["summary"]["redis_mode"] == "sentinel", report
    assert not [p for p in report["problems"] if p["what"] == "redis"], report
    producer = Producer(Client(app=make_app(redis)), out)
    daemon = Daemon(config, "--no-dashboard", env={"BINGO_PLUGINS": "testplug"})
    try:
        daemon.wait_for("worker ready")
        producer.start()
        deadline = time.monotonic() + 10
        while len(lines(ticks)) < 2 or len(lines(out)) < 100:
            assert time.monotonic() < deadline, daemon.log
            time.sleep(0.05)
        old_master = sentinel_group.master()
        logged_before = len(daemon.lines)
        sentinel_group.kill(sentinel_group.master_port)
        killed = time.monotonic()
        processed_at_kill = len(lines(out))

        # Wait for the first task enqueued after the kill to be processed: the new master
        # took writes and the daemon's worker fetched from it.
        resumed = promoted = None
        deadline = killed + 20
        while resumed is None:
            assert time.monotonic() < deadline, f"no task processed after the kill\n{daemon.log}"
            if promoted is None and sentinel_group.master() != old_master:
                promoted = time.monotonic()
            after = {v for v, at in list(producer.acked.items()) if at > killed}
            if after & set(lines(out)[processed_at_kill:]):
                resumed = time.monotonic()
            time.sleep(0.02)
        ticks_at_resume = len(lines(ticks))
        time.sleep(3.2)
        assert len(lines(ticks)) >= ticks_at_resume + 2, "the scheduler did not fire again"
        producer.halt.set()
        producer.join(10)

        # Everything acknowledged is processed, except what the failover lost.
        deadline = time.monotonic() + 15
        while set(producer.acked) - set(lines(out)) and time.monotonic() < deadline:
            time.sleep(0.1)
        done = lines(out)
        lost = sorted(set(producer.acked) - set(done), key=int)
        duplicates = len(done) - len(set(done))
        log = daemon.lines[logged_before:]
        print(
            f"\nfailover: sentinels promoted the replica {promoted and promoted - killed:.2f}s "
            f"after SIGKILL; processing resumed {resumed - killed:.2f}s after; enqueues "
            f"acknowledged {len(producer.acked)}, refused during the outage "
            f"{len(producer.refused)}, lost {len(lost)} {lost[:10]}, run twice {duplicates}"
        )
        print("daemon log after the kill:\n" + "\n".join(log))
        assert promoted is not None
        assert resumed - killed < 15
        assert "Traceback" not in daemon.log
        outage = [line for line in log if "not reachable" in line or "unreachable" in line]
        recovery = [line for line in log if "reachable again" in line]
        assert outage and recovery, log
        assert all(len(line) < 400 for line in outage), outage
        assert all(len(exc) < 250 for _, _, exc in producer.refused), producer.refused[:1]
        assert len(lost) <= 20, lost
        # check names the new master, and the old one (a replica now, in the sentinels'
        # view) as down: exit 1, one line.
        checked = cli(config, "check", "--json", check=False)
        report = json.loads(checked.stdout)
        dead = f"{old_master[0]}:{old_master[1]}"
        problems = [p["message"] for p in report["problems"] if p["what"] == "redis"]
        assert checked.returncode == 1
        (line,) = [p for p in problems if dead in p]
        assert line.startswith(f"Redis replica {dead} of 'mymaster' is down (") and "s_down" in line
        new_master = "{}:{}".format(*sentinel_group.master())
        assert report["summary"]["redis"].startswith(f"{new_master} (sentinel master")
        assert daemon.stop() == 0, daemon.log
    finally:
        producer.halt.set()
        daemon.close()

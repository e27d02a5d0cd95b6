"""Faults and scale through real processes: Redis restarting or cut off under a running
daemon, a log file that cannot be written, SIGUSR1 without a scheduler, a part of the
daemon that stops on its own, a database that cannot be used, several worker processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import TcpProxy, cli, wait_lines, wait_until, write_config

pytestmark = pytest.mark.slow


def test_worker_survives_redis_restart(
    config: Any, daemons: Any, tmp_path: Path, redis_server: Any
) -> None:
    cfg = config()
    d = daemons(cfg)
    out = tmp_path / "out.txt"
    cli(cfg, "enqueue", "test:record", "--payload", json.dumps({"path": str(out), "value": "1"}))
    assert wait_lines(out, 1) == ["1"]
    redis_server.stop()
    time.sleep(1.0)
    proc = cli(cfg, "stats", check=False)
    assert proc.returncode == 1 and "is not reachable" in proc.stderr
    redis_server.start()
    d.wait_for("Redis reachable again", timeout=15)
    cli(cfg, "enqueue", "test:record", "--payload", json.dumps({"path": str(out), "value": "2"}))
    assert wait_lines(out, 2) == ["1", "2"]
    assert d.proc.poll() is None
    assert d.stop() == 0


def test_several_worker_processes(
    config: Any, daemons: Any, tmp_path: Path, redis_client: Any
) -> None:
    cfg = config(worker={"processes": 2, "concurrency": 1})
    d = daemons(cfg)
    deadline = time.monotonic() + 20
    while redis_client.zcard("bingo:servers") < 2:
        assert time.monotonic() < deadline, d.log
        time.sleep(0.05)
    out = tmp_path / "pids.txt"
    payload = {"path": str(out), "seconds": 0.5, "value": "p"}
    for _ in range(4):
        cli(cfg, "enqueue", "test:isolated", "--payload", json.dumps(payload))
    assert len(wait_lines(out, 4, timeout=20)) == 4
    servers = {json.loads(v)["pid"] for v in redis_client.mget(redis_client.keys("bingo:server:*"))}
    assert len(servers) == 2
    d.signal(signal.SIGTERM)
    assert d.proc.wait(20) == 0
    deadline = time.monotonic() + 10
    while redis_client.zcard("bingo:servers"):
        assert time.monotonic() < deadline
        time.sleep(0.05)


def every_second(path: Path) -> list[dict[str, Any]]:
    return [
        {
            "name": "every-second",
            "spec": "@every 1s",
            "type": "test:record",
            "payload": {"path": str(path), "value": "tick"},
        }
    ]


def count_lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_redis_restarted_empty_is_one_line_each_way(
    config: Any, daemons: Any, tmp_path: Path, redis_server: Any
) -> None:
    """Redis killed and restarted empty under a daemon running the worker and the
    scheduler: one line when it goes, one when it is back, and the leader says Redis lost
    its data (no traceback, no "Unclosed ...", no other daemon blamed)."""
    tick = tmp_path / "tick.out"
    cfg = config(scheduler={"enabled": True, "leaderLease": "2s"}, schedules=every_second(tick))
    d = daemons(cfg)
    wait_lines(tick, 1, timeout=10)
    mark = len(d.lines)
    redis_server.stop()
    time.sleep(3)  # longer than the lease
    redis_server.start()
    d.wait_for("Redis reachable again", timeout=15)
    ticks = count_lines(tick)
    wait_until(lambda: count_lines(tick) >= ticks + 2, 10, "the schedule fires again")
    out = tmp_path / "out.txt"
    cli(cfg, "enqueue", "test:record", "--payload", json.dumps({"path": str(out), "value": "1"}))
    assert wait_lines(out, 1) == ["1"]
    during = d.since(mark)
    text = "\n".join(during)
    assert sum("is not reachable" in line for line in during) == 1, text
    assert sum("Redis reachable again" in line for line in during) == 1, text
    assert sum("Redis lost its data" in line for line in during) == 1, text
    for bad in ("Traceback", "Unclosed", "another daemon", "took over"):
        assert bad not in text, text
    assert len(during) <= 8, text
    assert d.stop() == 0


def test_lease_expired_during_an_outage_says_so(
    config: Any, daemons: Any, tmp_path: Path, redis_server: Any
) -> None:
    """Redis cut off (its data kept) for longer than the leader lease: the leader says its
    lease expired while Redis did not answer, and leads again with the next token."""
    proxy = TcpProxy(redis_server.port)
    proxy.start()
    try:
        tick = tmp_path / "tick.out"
        cfg = write_config(
            tmp_path / "proxied.yaml",
            f"redis://127.0.0.1:{proxy.port}/0",
            scheduler={"enabled": True, "leaderLease": "2s"},
            schedules=every_second(tick),
        )
        d = daemons(cfg)
        wait_lines(tick, 1, timeout=10)
        mark = len(d.lines)
        proxy.stop()
        time.sleep(3)
        proxy.start()
        d.wait_for("Redis reachable again", timeout=15)
        d.wait_for("it leads again (token", timeout=10)
        during = d.since(mark)
        text = "\n".join(during)
        lost = [line for line in during if "was lost" in line]
        assert len(lost) == 1 and "expired while Redis does not answer" in lost[0], text
        assert "leads again (token 2)" in lost[0], text
        assert sum("is not reachable" in line for line in during) == 1, text
        assert "Traceback" not in text and "Redis lost its data" not in text, text
        ticks = count_lines(tick)
        wait_until(lambda: count_lines(tick) >= ticks + 2, 10, "the schedule fires again")
        assert d.stop() == 0
    finally:
        proxy.stop()


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/dev/full", "No space left on device"),
        # root may not write there either: mkdir fails with EPERM
        ("/sys/bingo/scheduler.log", "Operation not permitted"),
    ],
)
def test_a_log_file_that_cannot_be_written_stops_nothing(
    path: str, reason: str, config: Any, daemons: Any, tmp_path: Path
) -> None:
    """A full disk (/dev/full) or a path nobody may write (/sys): one line on the console,
    and the daemon keeps running tasks."""
    cfg = config(log={"level": "info", "console": True, "path": path})
    d = daemons(cfg)
    out = tmp_path / "out.txt"
    for value in ("1", "2"):
        payload = json.dumps({"path": str(out), "value": value})
        cli(cfg, "enqueue", "test:record", "--payload", payload)
    assert wait_lines(out, 2) == ["1", "2"]
    said = [line for line in d.lines if "cannot be written" in line]
    assert len(said) == 1 and reason in said[0] and path in said[0], d.log
    assert "they go to the console only" in said[0]
    assert "Traceback" not in d.log and "Logging error" not in d.log, d.log
    assert d.proc.poll() is None
    assert d.stop() == 0


def test_sigusr1_on_a_worker_only_daemon(config: Any, daemons: Any, tmp_path: Path) -> None:
    """systemd's ExecReload sends SIGUSR1: a daemon without the scheduler says once that
    there is nothing to sync, and keeps running."""
    cfg = config(scheduler={"enabled": True})
    d = daemons(cfg, "--no-scheduler")
    for _ in range(3):
        d.signal(signal.SIGUSR1)
        time.sleep(0.2)
    d.wait_for("SIGUSR1: no scheduler here (started with --no-scheduler)")
    time.sleep(0.3)
    assert d.count("no scheduler here") == 1
    out = tmp_path / "out.txt"
    cli(cfg, "enqueue", "test:record", "--payload", json.dumps({"path": str(out), "value": "ok"}))
    assert wait_lines(out, 1) == ["ok"]
    assert d.stop() == 0


CRASH = """
import importlib, sys
module, _, name = sys.argv.pop(1).rpartition(".")
owner, _, method = module.rpartition(".")

async def broken(self):
    raise RuntimeError("planted bug")

setattr(getattr(importlib.import_module(owner), method), name, broken)
from bingo_core.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    ("planted", "says"),
    [
        ("bingo_core.worker.worker.Worker._fetch_loop", "the worker's fetch loop stopped"),
        ("bingo_core.scheduler.ticker.Ticker.run", "the scheduler tick loop stopped"),
        ("bingo_core.scheduler.leader.LeaderLease.run", "the scheduler lease loop stopped"),
    ],
)
def test_a_part_that_stops_on_its_own_exits_1_with_one_line(
    planted: str, says: str, config: Any, tmp_path: Path
) -> None:
    """A loop of the daemon ending (a planted bug: nothing in it can end it) takes the
    daemon down with exit 1 and one line saying what stopped and why."""
    cfg = config(log={"level": "info", "console": True, "path": ""}, scheduler={"enabled": True})
    proc = subprocess.run(
        [sys.executable, "-c", CRASH, planted, "-c", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    said = [line for line in proc.stderr.splitlines() if "bingo-scheduler stops" in line]
    assert len(said) == 1, proc.stderr
    assert f"{says}: RuntimeError: planted bug" in said[0], proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("mysql+mysqldb://root:Sekr3t-pass@127.0.0.1:3306/bingo", "cannot load the driver"),
        ("mysql+pymysql://nobody:Sekr3t-pass@127.0.0.1:3306/bingo", "Access denied"),
        ("mysql+pymysql://root:@127.0.0.1:3306/no_such_database_here", "Unknown database"),
    ],
)
def test_a_store_that_cannot_be_used_is_one_line(
    url: str, needle: str, config: Any, daemons: Any, tmp_path: Path
) -> None:
    """Driver missing, access denied, unknown database: one line at start (and in
    ``check``); the static schedule fires; the sync retries every second without saying
    it again within the minute."""
    tick = tmp_path / "tick.out"
    cfg = config(
        database={"url": url},
        scheduler={"enabled": True, "syncInterval": "1s", "leaderLease": "2s"},
        schedules=every_second(tick),
    )
    d = daemons(cfg)
    wait_lines(tick, 3, timeout=15)
    said = [line for line in d.lines if needle in line]
    assert len(said) == 1, d.log
    assert "Sekr3t-pass" not in d.log and "Traceback" not in d.log
    proc = cli(cfg, "check", check=False)
    errors = [line for line in proc.stderr.splitlines() if needle in line]
    assert proc.returncode in (1, 2) and len(errors) == 1, proc.stderr
    assert "Sekr3t-pass" not in proc.stdout + proc.stderr
    assert d.stop() == 0


def test_a_dead_worker_process_is_replaced(
    config: Any, daemons: Any, tmp_path: Path, redis_client: Any
) -> None:
    cfg = config(worker={"processes": 2, "concurrency": 1})
    d = daemons(cfg)
    wait_until(lambda: redis_client.zcard("bingo:servers") >= 2, 20, "two worker processes")
    child = next(
        json.loads(v)["pid"]
        for v in redis_client.mget(redis_client.keys("bingo:server:*"))
        if json.loads(v)["pid"] != d.proc.pid
    )
    os.kill(child, signal.SIGKILL)
    d.wait_for(f"worker process {child} was killed by SIGKILL; starting a new one", timeout=10)
    wait_until(lambda: d.count("worker ready") >= 3, 20, "a new worker process")
    out = tmp_path / "out.txt"
    for n in range(4):
        payload = json.dumps({"path": str(out), "value": str(n)})
        cli(cfg, "enqueue", "test:record", "--payload", payload)
    assert sorted(wait_lines(out, 4)) == ["0", "1", "2", "3"]
    assert d.stop() == 0

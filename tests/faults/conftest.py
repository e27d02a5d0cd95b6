"""Fixtures for fault tests: a private, killable redis-server per test (AOF on, fsync at
every write, so a SIGKILL loses nothing that was acknowledged), real daemon processes,
and every process a test started killed at the end, even when it fails."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from daemon_helpers import Daemon, write_config

from bingo_core.testing import free_port


class AofRedis:
    """A ``redis-server`` on a free port with ``appendonly yes`` and ``appendfsync
    always``; :meth:`kill` SIGKILLs it, :meth:`start` brings it back on the same port and
    directory (so it reloads its AOF)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="bingo-faults-redis-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.fail("redis-server is not installed")
        self.proc = subprocess.Popen(
            [
                exe,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                self.dir,
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    client.ping()
                    return
                except (redis.ConnectionError, redis.BusyLoadingError):
                    if time.monotonic() > deadline:
                        pytest.fail(f"redis-server on port {self.port} did not start")
                    time.sleep(0.02)
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL it (what it acknowledged is in its AOF)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def remove(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def aof_redis() -> Iterator[AofRedis]:
    server = AofRedis()
    server.start()
    yield server
    server.remove()


@pytest.fixture
def rclient(aof_redis: AofRedis) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(aof_redis.url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def make_config(tmp_path: Path, aof_redis: AofRedis) -> Callable[..., Path]:
    """``make_config(name="bingo.yaml", **sections)``: a daemon config on the private
    Redis (see :func:`daemon_helpers.write_config`)."""

    def make(name: str = "bingo.yaml", **sections: Any) -> Path:
        return write_config(tmp_path / name, aof_redis.url, **sections)

    return make


def _is_bingo(pid: int) -> bool:
    try:
        return b"bingo" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _children(pid: int) -> set[int]:
    """The pids whose parent is ``pid``."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == str(pid):
            found.add(int(stat.parent.name))
    return found


class Killer:
    """SIGKILLs a random live worker process of the given daemons, at most once per
    50 to 250 ms (:meth:`due`), counting the kills. Call it while enqueuing too: when the
    machine is slow, the workers may finish everything before an enqueue loop ends."""

    def __init__(self, r: redis.Redis, procs: Processes, daemon_pids: set[int]) -> None:
        self.r, self.procs, self.daemon_pids = r, procs, daemon_pids
        self.rng = random.Random(os.getpid())
        self.kills = 0
        self.next = time.monotonic() + self.gap()

    def gap(self) -> float:
        return self.rng.uniform(0.05, 0.25)

    def due(self) -> None:
        """Kill one if the gap since the last has passed."""
        if time.monotonic() >= self.next:
            self.kill()

    def kill(self) -> None:
        """Kill one now (if one is alive)."""
        self.next = time.monotonic() + self.gap()
        pids = [p for p in worker_pids(self.r, self.daemon_pids) if _alive(p)]
        self.procs.children.update(pids)
        if pids:
            try:
                os.kill(self.rng.choice(pids), signal.SIGKILL)
                self.kills += 1
            except ProcessLookupError:
                pass

    def until(self, done: Callable[[], bool], seconds: float) -> None:
        """Kill one every gap until ``done()`` or ``seconds`` after the first kill."""
        end = time.monotonic() + seconds
        while not done() and time.monotonic() < end:
            time.sleep(max(0.0, self.next - time.monotonic()))
            self.kill()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Processes:
    """Daemons started by a test, and the worker child processes it saw; all killed at
    the end."""

    def __init__(self) -> None:
        self.daemons: list[Daemon] = []
        self.children: set[int] = set()

    def start(self, config: Path, *args: str, ready: bool = True, **kw: Any) -> Daemon:
        d = Daemon(config, *args, **kw)
        self.daemons.append(d)
        if ready:
            d.wait_for("worker ready")
        return d

    def close(self) -> None:
        # Worker processes outlive a SIGKILLed daemon and hold its output pipe open, so
        # they are found first and killed before the daemons' pipes are closed.
        for d in self.daemons:
            self.children.update(_children(d.proc.pid))
            with contextlib.suppress(OSError):
                d.proc.send_signal(signal.SIGCONT)  # a frozen one cannot die otherwise
            if d.proc.poll() is None:
                d.proc.kill()
        for pid in self.children:
            if _is_bingo(pid):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGCONT)
                    os.kill(pid, signal.SIGKILL)
        for d in self.daemons:
            d.close()


@pytest.fixture
def procs() -> Iterator[Processes]:
    p = Processes()
    yield p
    p.close()


def check_ticks(items: list[dict[str, Any]], step: int = 1) -> list[int]:
    """Check a schedule's enqueue history (``cron list --json --history``): each tick
    enqueued once, with its own task (a tick another daemon had enqueued first is
    recorded ``by_other`` with that same task), none missing between the first and the
    last. Returns the ticks."""
    assert not [i for i in items if "tick" not in i or "error" in i], items
    owners: dict[int, str] = {}
    for item in items:
        if not item.get("by_other"):
            tick = int(item["tick"])
            assert tick not in owners, f"tick {tick} enqueued twice: {items}"
            owners[tick] = item["task_id"]
    for item in items:
        if item.get("by_other"):
            assert owners.get(int(item["tick"])) in (None, item["task_id"]), items
    ticks = sorted(owners)
    assert len(set(owners.values())) == len(ticks), f"a task for two ticks: {items}"
    lost = [(a, b) for a, b in itertools.pairwise(ticks) if b - a != step]
    assert not lost, f"ticks lost between {lost}: {ticks}"
    return ticks


def worker_pids(r: redis.Redis, daemon_pids: set[int]) -> list[int]:
    """The pids of the live worker child processes (not the daemons themselves)."""
    pids = []
    for raw in r.mget(r.keys("bingo:server:*")) if r.keys("bingo:server:*") else []:
        if raw:
            pid = int(json.loads(raw)["pid"])
            if pid not in daemon_pids:
                pids.append(pid)
    return pids

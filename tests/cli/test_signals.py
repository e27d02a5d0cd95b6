"""SIGUSR1 sent the way the original README did (``pkill -USR1 -f bingo-scheduler``), with real
processes and real signals: the daemon syncs (or says it has no scheduler) and goes on; a
standalone ``dashboard`` and a CLI command ignore it. The daemon's title names it."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from daemon_helpers import BIN, Daemon, write_config

from bingo_core.testing import free_port

pytestmark = pytest.mark.slow

#: SIGUSR1's bit in /proc/PID/status's SigIgn mask.
USR1_BIT = 1 << (signal.SIGUSR1 - 1)


def _ignores_usr1(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = next(line for line in status.splitlines() if line.startswith("SigIgn:"))
    return bool(int(mask.split()[1], 16) & USR1_BIT)


def _pkill_usr1(pattern: str) -> int:
    """``pkill -USR1 -f PATTERN``; how many processes it signalled."""
    return subprocess.run(
        ["pkill", "-USR1", "-e", "-f", pattern], capture_output=True
    ).stdout.count(b"killed")


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _wait(check: object, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"not within {timeout}s"
        time.sleep(0.02)


def test_only_the_daemon_acts_on_sigusr1(tmp_path: Path, redis_url: str) -> None:
    port = free_port()
    cfg = write_config(
        tmp_path / "bingo.yaml",
        redis_url,
        server={"timezone": "UTC", "addr": f"127.0.0.1:{port}", "key": "k" * 32},
        dashboard={"enabled": True},
        feature={"queueDash": True},
    )
    daemon_cfg = write_config(tmp_path / "daemon.yaml", redis_url)
    daemon = Daemon(daemon_cfg, "--no-dashboard", env={"BINGO_PLUGINS": "testplug"})
    dash = subprocess.Popen([BIN, "-c", str(cfg), "dashboard"], stderr=subprocess.PIPE, text=True)
    try:
        daemon.wait_for("worker ready")
        _wait(lambda: _healthy(port))
        cmdline = Path(f"/proc/{daemon.proc.pid}/cmdline").read_bytes().rstrip(b"\0")
        assert cmdline.decode() == f"bingo-scheduler daemon (worker) -c {daemon_cfg}"
        assert Path(f"/proc/{daemon.proc.pid}/comm").read_text().strip() == "bingo-scheduler"
        assert _ignores_usr1(dash.pid) and not _ignores_usr1(daemon.proc.pid)

        # Every bingo-scheduler process of this test, by its config file's folder.
        assert _pkill_usr1(str(tmp_path)) == 2
        daemon.wait_for("SIGUSR1: no scheduler here (scheduler.enabled is false)")

        # A CLI command signalled over and over while it runs (from the moment it ignores
        # SIGUSR1) prints its answer and exits 0.
        stats = subprocess.Popen(
            [BIN, "-c", str(cfg), "stats"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        _wait(lambda: _ignores_usr1(stats.pid) or stats.poll() is not None, 10)
        sent = 0
        while stats.poll() is None:
            sent += _pkill_usr1(f"{cfg} stats")
            time.sleep(0.005)
        out, err = stats.communicate()
        assert sent >= 1
        assert stats.returncode == 0, err
        assert out.decode().startswith("queue") or out == b"no queues yet\n", out

        assert dash.poll() is None and _healthy(port)
        assert daemon.proc.poll() is None
        dash.send_signal(signal.SIGTERM)
        assert dash.wait(20) == 0
        assert daemon.stop() == 0
    finally:
        for proc in (dash, daemon.proc):
            if proc.poll() is None:
                proc.kill()
        dash.wait()
        assert dash.stderr is not None
        dash.stderr.close()
        daemon.close()


def test_the_console_script_ignores_sigusr1_from_its_start() -> None:
    """SIGUSR1 is ignored while ``--help`` (no Redis, nothing to wait for) still starts up,
    and the signal sent then does not end it."""
    proc = subprocess.Popen([BIN, "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait(lambda: _ignores_usr1(proc.pid) or proc.poll() is not None, 10)
    assert proc.poll() is None, "exited before SIGUSR1 was ignored"
    os.kill(proc.pid, signal.SIGUSR1)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0 and out.startswith(b"usage: bingo-scheduler")

"""The disk of the log file fills up while the daemon runs (a 64 KiB tmpfs filled behind
its back; ``tests/e2e`` covers a path that fails from the start, such as /dev/full): the
daemon keeps running tasks, says so once, and once more when the file takes records
again."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import cli, wait_lines, wait_until

from .conftest import Processes

pytestmark = pytest.mark.slow

FULL = "cannot be written (No space left on device"
BACK = "is written again"


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "logfs"
    mount.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs for the full-disk test: {proc.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Fill ``disk`` to the last byte; returns the filler file."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for size in (4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"x" * size)
    finally:
        os.close(fd)
    return filler


def test_log_disk_filling_up_stops_nothing(
    make_config: Any, procs: Processes, tiny_disk: Path, tmp_path: Path
) -> None:
    log_path = tiny_disk / "scheduler.log"
    cfg = make_config(
        log={"level": "info", "console": True, "path": str(log_path)},
        scheduler={"enabled": True, "syncInterval": "1h"},
    )
    d = procs.start(cfg)
    wait_until(lambda: log_path.exists() and log_path.stat().st_size > 0, 5, "the file is used")
    filler = fill(tiny_disk)
    out = tmp_path / "out.txt"
    # The file's last page still has room: log records (one per SIGUSR1) until it is full.
    deadline = time.monotonic() + 15
    while FULL not in d.log:
        assert time.monotonic() < deadline, d.log
        d.signal(signal.SIGUSR1)
        time.sleep(0.05)
    for n in range(3):
        d.signal(signal.SIGUSR1)
        payload = json.dumps({"path": str(out), "value": str(n)})
        cli(cfg, "enqueue", "test:record", "--payload", payload)
    assert wait_lines(out, 3) == ["0", "1", "2"]
    assert d.count("sys_crontab sync requested") >= 3, d.log
    said = [line for line in d.lines if "cannot be written" in line]
    assert len(said) == 1 and str(log_path) in said[0], d.log

    filler.unlink()
    d.signal(signal.SIGUSR1)
    d.wait_for(BACK, timeout=5)
    time.sleep(0.3)
    d.signal(signal.SIGUSR1)
    wait_until(lambda: "sys_crontab sync requested" in log_path.read_text(), 5, "file written")
    assert d.count(BACK) == 1 and d.count("cannot be written") == 1, d.log
    assert "Traceback" not in d.log and "Logging error" not in d.log, d.log
    assert d.proc.poll() is None
    assert d.stop() == 0

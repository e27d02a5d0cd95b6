"""``enqueue`` into a queue that no live worker consumes warns once, on stderr, after the
task id; a queue a live worker consumes, or no worker at all, gives no warning. The
heartbeats come from a real worker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from worker_helpers import Running

from bingo_core.app import App

CLI = Path(sys.executable).with_name("bingo-scheduler")


def _enqueue(cfg: Path, queue: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINGO_")}
    return subprocess.run(
        [str(CLI), "-c", str(cfg), "enqueue", "task:daily-stats", "--queue", queue],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_queue_no_live_worker_consumes_is_told(cfg: Path, app: App) -> None:
    alone = _enqueue(cfg, "elsewhere")  # no worker at all: no warning
    assert alone.returncode == 0 and alone.stderr == "", alone
    running = Running(app)
    try:
        deadline = time.monotonic() + 10
        while not app.inspector.servers() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert app.inspector.servers()
        served = _enqueue(cfg, "default")
        assert served.returncode == 0 and served.stderr == "", served
        unserved = _enqueue(cfg, "elsewhere")
    finally:
        running.stop()
    assert unserved.returncode == 0, unserved
    assert len(unserved.stdout.strip()) == 32
    assert unserved.stderr == (
        "warning: no live worker consumes queue 'elsewhere': the task waits until a worker "
        "lists it in worker.queues\n"
    )

"""Redis (AOF, fsync at every write) SIGKILLed while tasks are being enqueued and run, and
restarted on the same port and directory: the daemon stays up, resumes by itself, every
task whose enqueue returned before the kill completes, one line each way."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import wait_until

from bingo_core import Client
from bingo_core.app import App
from bingo_core.errors import ServiceUnavailable
from bingo_core.registry import Registry, TaskRegister

from .conftest import AofRedis, Processes

pytestmark = pytest.mark.slow


def values(path: Path) -> set[str]:
    return set(path.read_text().splitlines()) if path.exists() else set()


def test_redis_sigkill_mid_run_loses_no_acknowledged_task(
    make_config: Any, procs: Processes, aof_redis: AofRedis, tmp_path: Path
) -> None:
    cfg = make_config(worker={"concurrency": 8, "lease": "2s", "recoverInterval": "200ms"})
    d = procs.start(cfg)
    out = tmp_path / "out.txt"
    returned: list[str] = []
    stop = threading.Event()
    killed = threading.Event()
    before_kill: list[str] = []

    def enqueue() -> None:
        app = App(config=str(cfg))
        try:
            n = 0
            while not stop.is_set():
                n += 1
                payload = {"path": str(out), "value": str(n), "seconds": 0.05}
                try:
                    app.client.enqueue("test:sleep", payload)
                except Exception:  # Redis is down: this one did not return, go on
                    time.sleep(0.05)
                    continue
                if not killed.is_set():
                    before_kill.append(str(n))
                returned.append(str(n))
                time.sleep(0.005)
        finally:
            app.close()

    thread = threading.Thread(target=enqueue, daemon=True)
    thread.start()
    try:
        wait_until(lambda: len(values(out)) >= 50, 15, "tasks run before the kill")
        mark = len(d.lines)
        # Flag first, then kill: anything appended to before_kill returned before the kill.
        killed.set()
        aof_redis.kill()
        d.wait_for("is not reachable", timeout=10)
        time.sleep(2.5)  # past the worker lease
        assert d.proc.poll() is None, d.log
        aof_redis.start()
        d.wait_for("reachable again", timeout=15)
        wait_until(lambda: len(returned) >= len(before_kill) + 20, 15, "enqueues work again")
    finally:
        stop.set()
        thread.join(10)
    wait_until(lambda: set(returned) <= values(out), 30, "every acknowledged task ran (none lost)")
    assert set(before_kill) <= values(out)
    during = d.since(mark)
    text = "\n".join(during)
    assert sum("is not reachable" in line for line in during) == 1, text
    assert sum("reachable again" in line for line in during) == 1, text
    assert "Traceback" not in d.log, d.log
    assert d.proc.poll() is None
    assert d.stop() == 0


def test_single_enqueue_with_redis_down_is_one_clear_error(aof_redis: AofRedis) -> None:
    """The single enqueue's own packed command (a queue it enqueued to lately) meets a
    Redis that is gone as every other call does: ServiceUnavailable, then works again."""
    registry = Registry()
    TaskRegister(registry, "t")("t:noop", _noop)
    client = Client(redis_url=aof_redis.url, registry=registry)
    try:
        client.enqueue("t:noop", {})
        client.enqueue("t:noop", {})
        aof_redis.kill()
        for _ in range(2):  # a pooled connection that broke, then a new one refused
            with pytest.raises(ServiceUnavailable, match=r"not reachable|refused|closed"):
                client.enqueue("t:noop", {})
        aof_redis.start()
        info = client.enqueue("t:noop", {})
        assert client.broker.redis.lindex("bingo:{default}:pending", 0).decode() == info.id
    finally:
        client.close()


async def _noop(ctx: Any, payload: Any) -> None:
    return None

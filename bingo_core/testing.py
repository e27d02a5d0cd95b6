"""pytest plugin for plugin authors (entry point ``pytest11``: loaded automatically).

Fixtures:

- ``bingo_redis_server`` / ``bingo_redis_url``: a private ``redis-server`` for the test
  session (:class:`RedisServer`, which tests may stop and restart), flushed per test.
- ``bingo_settings``: :class:`Settings` pointing at that Redis.
- ``bingo_registry``: ``bingo_registry(plugin, ...)`` builds a registry from plugin objects
  or modules registered inline (no entry points), failing the test on a broken plugin.
- ``bingo_worker``: ``bingo_worker(registry, timeout=10)`` runs a real worker until every
  queue is empty, then stops it.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .registry import Registry


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A private ``redis-server`` process on a free port; tests may stop and restart it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="bingo-redis-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start it (again, on the same port) and wait until it answers."""
        import redis

        exe = shutil.which("redis-server")
        if exe is None:
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
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
                "no",
                "--dir",
                self.dir,
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        pytest.fail(f"private redis-server on port {self.port} did not start")
                    time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        """Kill it (its data is gone)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def bingo_redis_server() -> Iterator[RedisServer]:
    """A private redis-server for the test session."""
    server = RedisServer()
    server.start()
    yield server
    server.remove()


@pytest.fixture
def bingo_redis_url(bingo_redis_server: RedisServer) -> str:
    """The private Redis, flushed for this test (restarted if a test killed it)."""
    import redis

    if bingo_redis_server.proc is None or bingo_redis_server.proc.poll() is not None:
        bingo_redis_server.start()
    client = redis.Redis.from_url(bingo_redis_server.url)
    client.flushall()
    client.close()
    return bingo_redis_server.url


@pytest.fixture
def bingo_settings(bingo_redis_url: str) -> Any:
    from .config import load_settings

    return load_settings(
        None, env={}, overrides={"redis.url": bingo_redis_url, "worker.lease": "2s"}
    )


@pytest.fixture
def bingo_registry() -> Callable[..., Registry]:
    from .plugins import PluginManager

    def build(*plugins: object) -> Registry:
        manager = PluginManager()
        for plugin in plugins:
            manager.add(plugin)
        registry = manager.collect()
        if manager.failures:
            pytest.fail("; ".join(str(f) for f in manager.failures))
        return registry

    return build


async def drain(
    settings: Any, registry: Registry, manager: Any = None, timeout: float = 10.0
) -> None:
    """Run a worker until every queue it serves is empty (nothing pending, active,
    scheduled or retrying), then stop it. Fails on ``timeout``."""
    from .app import App
    from .worker import Worker

    stop = asyncio.Event()
    app = App(settings, registry=registry, manager=manager)
    worker = Worker(app)
    runner = asyncio.create_task(worker.run(stop))
    reader = app.broker.reader
    try:
        deadline = time.monotonic() + timeout
        while True:
            await asyncio.sleep(0.01)
            if runner.done():
                runner.result()
                return
            busy = 0
            for q in worker.queues:
                s = await asyncio.to_thread(reader.queue_stats, q)
                busy += s["pending"] + s["active"] + s["scheduled"] + s["retry"]
            if busy == 0 and not worker.active:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"queues not empty after {timeout}s")
    finally:
        stop.set()
        await runner
        await app.aclose()


@pytest.fixture
def bingo_worker(bingo_settings: Any) -> Callable[..., None]:
    def run(registry: Registry, timeout: float = 10.0, settings: Any = None) -> None:
        asyncio.run(drain(settings or bingo_settings, registry, timeout=timeout))

    return run

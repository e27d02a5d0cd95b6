"""Serving the dashboard: uvicorn in the daemon's event loop (started, answering, stopped),
the key policy, the one-time key, the sampler, the ``dashboard`` command and the daemon."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from bingo_core.app import App
from bingo_core.dashboard.service import DashboardService, listen_address
from bingo_core.errors import BingoError, UsageError
from bingo_core.testing import free_port

from .conftest import ADMIN_KEY, make_app

BIN = str(Path(sys.executable).with_name("bingo-scheduler"))


def test_listen_address() -> None:
    assert listen_address(":8080") == ("", 8080)
    assert listen_address("127.0.0.1:9000") == ("127.0.0.1", 9000)
    assert listen_address("[::1]:9000") == ("::1", 9000)


def served(app: App, **kwargs: Any) -> Any:
    async def run() -> Any:
        service = DashboardService(app, serve=True)
        try:
            await service.start(**kwargs)
            if not service.url:
                return None
            await asyncio.sleep(0.2)
            async with httpx.AsyncClient(base_url=service.url.removesuffix("/queue")) as http:
                health = await http.get("/healthz")
                page = await http.get(
                    "/queue/api/overview", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
                )
                return health.status_code, page.status_code, service.url, service.sampler.samples
        finally:
            await service.stop()
            await app.aclose()

    return asyncio.run(run())


def test_serves_in_the_event_loop_and_stops(bingo_redis_url: str, tmp_path: Path) -> None:
    port = free_port()
    app = make_app(bingo_redis_url, tmp_path, **{"server.addr": f"127.0.0.1:{port}"})
    health, page, url, taken = served(app)
    assert (health, page) == (200, 200)
    assert url == f"http://127.0.0.1:{port}/queue"
    assert taken == 1  # the sampler took its first sample at start
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)


def test_placeholder_key_is_refused_beyond_loopback(
    bingo_redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    app = make_app(
        bingo_redis_url, tmp_path, **{"server.addr": f":{port}", "server.key": "change-me"}
    )
    with caplog.at_level(logging.ERROR, "bingo.dashboard"):
        assert served(app) is None
    (line,) = [r.getMessage() for r in caplog.records if r.name == "bingo.dashboard"]
    assert line.startswith("dashboard not started: server.key is a placeholder from a sample")
    assert "BINGO_SERVER__KEY" in line and "\n" not in line
    app = make_app(bingo_redis_url, tmp_path, **{"server.addr": f":{port}", "server.key": ""})
    with pytest.raises(UsageError, match=r"server\.key is empty"):
        served(app, strict=True)


def test_a_port_in_use_is_one_line(bingo_redis_url: str, tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        app = make_app(bingo_redis_url, tmp_path, **{"server.addr": f"127.0.0.1:{port}"})
        with pytest.raises(BingoError, match=f"cannot listen on 127.0.0.1:{port}"):
            served(app, strict=True)


def test_empty_key_on_loopback_gets_a_one_time_key(
    bingo_redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    app = make_app(
        bingo_redis_url,
        tmp_path,
        **{"server.addr": f"127.0.0.1:{port}", "server.key": "", "dashboard.readOnlyKey": ""},
    )

    async def run() -> tuple[int, int]:
        service = await DashboardService(app, serve=True).start()
        try:
            line = next(r.getMessage() for r in caplog.records if "one-time key" in r.getMessage())
            key = line.split("one-time key ")[1].split(" ")[0]
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                empty = await http.get("/queue/api/overview", headers={"Authorization": "Bearer x"})
                good = await http.get(
                    "/queue/api/overview", headers={"Authorization": f"Bearer {key}"}
                )
                return empty.status_code, good.status_code
        finally:
            await service.stop()
            await app.aclose()

    with caplog.at_level(logging.WARNING, "bingo.dashboard"):
        assert asyncio.run(run()) == (401, 200)


def test_the_sampler_keeps_one_sample_per_interval(app: App) -> None:
    from bingo_core.dashboard.sampler import Sampler

    app.client.enqueue("demo:free", {})

    async def run() -> list[bool]:
        broker = app.async_broker()
        try:
            a, b = Sampler(broker), Sampler(broker)  # two daemons
            return [await a.sample_once(), await b.sample_once(), await a.sample_once()]
        finally:
            await broker.close()
            app._async_broker = None

    assert asyncio.run(run()) == [True, False, False]
    (sample,) = app.inspector.samples()
    assert sample.q["default"]["pending"] == 1


def config(tmp_path: Path, redis_url: str, **server: Any) -> Path:
    path = tmp_path / "bingo.yaml"
    path.write_text(
        json.dumps(
            {
                "server": {"timezone": "UTC", "key": ADMIN_KEY, **server},
                "redis": {"url": redis_url},
                "database": {"url": f"sqlite:///{tmp_path / 'bingo.db'}"},
                "log": {"console": True, "path": "", "level": "info"},
                "feature": {"queueDash": True},
                "worker": {"concurrency": 2, "lease": "2s", "shutdownTimeout": "2s"},
                "scheduler": {"enabled": False},
            }
        )
    )
    return path


def test_the_dashboard_command_refuses_a_placeholder_key(
    tmp_path: Path, bingo_redis_url: str
) -> None:
    cfg = config(tmp_path, bingo_redis_url, key="change-me", addr=f":{free_port()}")
    proc = subprocess.run(
        [BIN, "-c", str(cfg), "dashboard"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "server.key is a placeholder from a sample config" in lines[0]


def wait_http(url: str, timeout: float = 20.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.slow
def test_the_dashboard_command_serves_until_sigterm(tmp_path: Path, bingo_redis_url: str) -> None:
    port = free_port()
    cfg = config(tmp_path, bingo_redis_url, addr=f"127.0.0.1:{port}")
    proc = subprocess.Popen([BIN, "-c", str(cfg), "dashboard"], stderr=subprocess.PIPE, text=True)
    try:
        assert wait_http(f"http://127.0.0.1:{port}/healthz").status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()


@pytest.mark.slow
def test_the_daemon_serves_it_beside_the_worker(tmp_path: Path, bingo_redis_url: str) -> None:
    from daemon_helpers import Daemon

    port = free_port()
    cfg = config(tmp_path, bingo_redis_url, addr=f"127.0.0.1:{port}")
    daemon = Daemon(cfg, env={"BINGO_PLUGINS": "testplug"})
    try:
        daemon.wait_for("dashboard at http://127.0.0.1")
        assert wait_http(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok"}
        r = httpx.get(
            f"http://127.0.0.1:{port}/queue/api/servers",
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        )
        roles = {r for s in r.json()["servers"] for r in s["roles"]}
        assert {"worker", "dashboard"} <= roles
        assert daemon.stop() == 0
    finally:
        daemon.close()


@pytest.mark.slow
def test_no_dashboard_and_a_refused_key_leave_the_worker_running(
    tmp_path: Path, bingo_redis_url: str
) -> None:
    from daemon_helpers import Daemon, wait_lines

    port = free_port()
    cfg = config(tmp_path, bingo_redis_url, addr=f":{port}", key="change-me")
    daemon = Daemon(cfg, env={"BINGO_PLUGINS": "testplug"})
    try:
        daemon.wait_for("dashboard not started: server.key is a placeholder")
        daemon.wait_for("worker ready")
        out = tmp_path / "out.txt"
        app = App(config=str(cfg))
        app.client.enqueue("test:record", {"path": str(out), "value": "done"})
        app.close()
        assert wait_lines(out, 1) == ["done"]
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
        assert daemon.stop() == 0
    finally:
        daemon.close()
    port = free_port()
    cfg = config(tmp_path, bingo_redis_url, addr=f"127.0.0.1:{port}")
    daemon = Daemon(cfg, "--no-dashboard", env={"BINGO_PLUGINS": "testplug"})
    try:
        daemon.wait_for("worker ready")
        time.sleep(0.5)
        assert "dashboard at" not in daemon.log
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
        assert daemon.stop() == 0
    finally:
        daemon.close()


def test_the_worker_can_read_and_clear_cancel_requests(app: App) -> None:
    from .helpers import lease, run_async

    app.client.enqueue_many([("demo:free", {}) for _ in range(3)])
    held = lease(app, n=3)
    app.inspector.cancel(held[1], "default")

    async def run() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        broker = app.async_broker()
        try:
            asked = await broker.cancel_requests({"default": held, "other": []})
            await broker.clear_cancel("default", asked["default"])
            return asked, await broker.cancel_requests({"default": held})
        finally:
            await broker.close()
            app._async_broker = None

    assert run_async(run) == ({"default": [held[1]]}, {})

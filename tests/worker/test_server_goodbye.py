"""A worker that stops cleanly leaves its last record among the servers seen, so the
servers list (CLI, dashboard, API) shows it as stopped even when no daemon's sampler
ran while it did (a short-lived worker); one that dies shows as dead, by name, from the
record its last heartbeat kept."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from worker_helpers import Running

from bingo_core.app import App
from bingo_core.config import load_settings


def _app(tmp_path: Path, redis_url: str) -> App:
    cfg = tmp_path / "bingo.yaml"
    cfg.write_text(f"server: {{name: brief}}\nredis: {{url: '{redis_url}'}}\n")
    return App(load_settings(cfg, env={}))


def test_a_stopped_worker_shows_as_stopped_without_a_sampler(
    tmp_path: Path, redis_url: str
) -> None:
    app = _app(tmp_path, redis_url)
    try:
        running = Running(app)
        running.stop()
        servers = app.broker.reader.server_records()
    finally:
        app.close()
    assert [(s.name, s.status, s.active_count) for s in servers] == [("brief", "stopped", 0)]


def test_a_worker_that_dies_between_samples_shows_as_dead_by_name(
    tmp_path: Path, redis_url: str
) -> None:
    app = _app(tmp_path, redis_url)
    record = {"id": "host-k:7:kk", "name": "killed", "pid": 7, "active_count": 2}

    async def beat_once() -> None:  # its last beat, then nothing: no goodbye, no sampler
        broker = app.async_broker()
        try:
            await broker.heartbeat(record["id"], json.dumps(record | {"at": time.time()}), 0.2)
        finally:
            await broker.close()

    try:
        asyncio.run(beat_once())
        time.sleep(0.3)  # its heartbeat record has expired
        servers = app.broker.reader.server_records()
    finally:
        app.close()
    assert [(s.id, s.name, s.pid, s.status) for s in servers] == [
        ("host-k:7:kk", "killed", 7, "dead")
    ]

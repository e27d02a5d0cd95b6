"""A worker that stops cleanly leaves its last record among the servers seen, so the
servers list (CLI, dashboard, API) shows it as stopped even when no daemon's sampler
copied its heartbeat while it ran (a short-lived worker)."""

from __future__ import annotations

from pathlib import Path

from worker_helpers import Running

from bingo_core.app import App
from bingo_core.config import load_settings


def test_a_stopped_worker_shows_as_stopped_without_a_sampler(
    tmp_path: Path, redis_url: str
) -> None:
    cfg = tmp_path / "bingo.yaml"
    cfg.write_text(f"server: {{name: brief}}\nredis: {{url: '{redis_url}'}}\n")
    app = App(load_settings(cfg, env={}))
    try:
        running = Running(app)
        running.stop()
        servers = app.broker.reader.server_records()
    finally:
        app.close()
    assert [(s.name, s.status, s.active_count) for s in servers] == [("brief", "stopped", 0)]

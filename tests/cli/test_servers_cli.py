"""``bingo-scheduler servers``, run as a real process against real daemons: one live with a
task running, one killed (dead: its heartbeat stopped), one stopped by SIGTERM."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import Daemon, cli, wait_until, write_config

pytestmark = pytest.mark.slow

ENV = {"BINGO_PLUGINS": "testplug"}


def _config(tmp_path: Path, redis_url: str, name: str, queues: dict[str, int]) -> Path:
    return write_config(
        tmp_path / f"{name}.yaml",
        redis_url,
        server={"timezone": "UTC", "name": name},
        worker={"concurrency": 3, "lease": "1s", "queues": queues},
    )


def _servers(cfg: Path) -> list[dict[str, Any]]:
    return list(json.loads(cli(cfg, "servers", "--json").stdout)["servers"])


def test_servers_lists_live_dead_and_stopped(tmp_path: Path, redis_url: str) -> None:
    live_cfg = _config(tmp_path, redis_url, "alpha", {"default": 1})
    dead_cfg = _config(tmp_path, redis_url, "beta", {"low": 1})
    stopped_cfg = _config(tmp_path, redis_url, "gamma", {"high": 2})
    started = [Daemon(c, env=ENV) for c in (live_cfg, dead_cfg, stopped_cfg)]
    live, dead, stopped = started
    try:
        for d in started:
            d.wait_for("worker ready")
        payload = {"path": str(tmp_path / "out.txt"), "seconds": 30, "value": "v"}
        cli(live_cfg, "enqueue", "test:sleep", "--payload", json.dumps(payload))
        dead.signal(signal.SIGKILL)
        assert stopped.stop() == 0

        seen: list[dict[str, Any]] = []

        def settled() -> bool:
            by_name = {s.get("name"): s for s in _servers(live_cfg)}
            seen[:] = [
                {k: v.get(k) for k in ("status", "active_count", "pid")} | {"name": n}
                for n, v in by_name.items()
            ]
            return (
                by_name.get("alpha", {}).get("active_count") == 1
                and by_name.get("beta", {}).get("status") == "dead"
                and by_name.get("gamma", {}).get("status") == "stopped"
            )

        try:
            wait_until(settled, 30, "one live server with a task, one dead, one stopped")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last seen: {seen}; alpha's log: {live.log}") from None
        table = cli(live_cfg, "servers")
        lines = table.stdout.splitlines()
        assert lines[0].split() == [
            "name", "host", "pid", "status", "roles", "queues", "slots", "heartbeat", "active",
        ]  # fmt: skip
        rows = {line.split()[0]: line.split() for line in lines[1:]}
        assert set(rows) == {"alpha", "beta", "gamma"}, table.stdout
        alpha, beta, gamma = rows["alpha"], rows["beta"], rows["gamma"]
        assert alpha[2] == str(live.proc.pid) and alpha[3] == "live"
        assert "worker" in alpha[4] and alpha[5] == "default:1" and alpha[6] == "1/3"
        assert alpha[8] == "ago"  # heartbeat: "<age> ago"
        assert alpha[-1] == "1"
        assert beta[2] == str(dead.proc.pid) and beta[3] == "dead" and beta[5] == "low:1"
        assert gamma[2] == str(stopped.proc.pid) and gamma[3] == "stopped"
        assert beta[-1] == gamma[-1] == "0"
    finally:
        for d in started:
            d.close()


def test_servers_without_any(tmp_path: Path, redis_url: str) -> None:
    cfg = write_config(tmp_path / "bingo.yaml", redis_url)
    assert cli(cfg, "servers").stdout == "no servers with a heartbeat in the last hour\n"
    assert _servers(cfg) == []

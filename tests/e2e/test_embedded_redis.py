"""The quick start's embedded Redis, with real processes: a daemon whose configuration
names no Redis starts an embedded Valkey under ``storage/`` on a unix socket (forced with
``redis.embedded: always``, since a Redis may well answer at 127.0.0.1:6379 here), says so
in one line, and the CLI and ``Client()`` find it there; tasks survive a restart. With a
Redis configured, nothing embedded starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import BIN, Daemon

from bingo_core.broker import embedded
from bingo_core.config import load_settings

pytestmark = pytest.mark.slow


def _env(config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINGO_")}
    return {**env, "BINGO_CONFIG": str(config)}


def _cli(cwd: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BIN, *args], cwd=cwd, env=_env(config), capture_output=True, text=True, timeout=60
    )


def _start(tmp_path: Path, config: Path) -> Daemon:
    daemon = Daemon(config, cwd=tmp_path, env=_env(config))
    daemon.wait_for("bingo-scheduler started")
    return daemon


def _wait_file(path: Path, lines: int, timeout: float = 15) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(found := path.read_text().splitlines()) >= lines:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{path} has fewer than {lines} line(s)")


def test_a_daemon_with_no_redis_runs_an_embedded_one(tmp_path: Path) -> None:
    config = tmp_path / "bingo.yaml"
    config.write_text("redis: {embedded: always}\nlog: {path: ''}\nscheduler: {enabled: false}\n")
    out = tmp_path / "out.txt"
    payload = json.dumps({"path": str(out), "value": "cli"})
    daemon = _start(tmp_path, config)
    try:
        said = [line for line in daemon.lines if "embedded Valkey" in line]
        assert len(said) == 1, daemon.log
        assert "not for production" in said[0] and "storage/redis.sock" in said[0]
        assert (tmp_path / "storage" / "redis.sock").exists()
        # The CLI and Client() find it: the daemon's worker runs what they enqueue.
        run = _cli(tmp_path, config, "enqueue", "test:record", "--payload", payload)
        assert run.returncode == 0, run
        client = (
            "from bingo_core import Client\n"
            "with Client() as c:\n"
            f"    print(c.enqueue('test:record', {{'path': {str(out)!r}, 'value': 'py'}}).id)\n"
        )
        py = subprocess.run(
            [sys.executable, "-c", client],
            cwd=tmp_path,
            env=_env(config),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert py.returncode == 0, py
        assert sorted(_wait_file(out, 2)) == ["cli", "py"]
        later = _cli(
            tmp_path, config, "enqueue", "test:record", "--payload", payload, "--process-in", "1h"
        )
        assert later.returncode == 0, later
        task_id = later.stdout.strip()
    finally:
        assert daemon.stop() == 0, daemon.log
        daemon.close()
    assert not (tmp_path / "storage" / "redis.sock").exists()
    assert (tmp_path / "storage" / "redis").is_dir()
    # Stopped: the CLI says Redis is not there, in one line.
    down = _cli(tmp_path, config, "stats")
    assert down.returncode == 1 and len(down.stderr.splitlines()) == 1, down
    # Started again: the scheduled task is still there.
    daemon = _start(tmp_path, config)
    try:
        shown = _cli(tmp_path, config, "tasks", "show", task_id, "--json")
        assert shown.returncode == 0, shown
        assert json.loads(shown.stdout)["state"] == "scheduled"
    finally:
        assert daemon.stop() == 0, daemon.log
        daemon.close()


def test_with_a_redis_configured_nothing_embedded_starts(tmp_path: Path, redis_url: str) -> None:
    config = tmp_path / "bingo.yaml"
    config.write_text(
        f"redis: {{url: '{redis_url}'}}\nlog: {{path: ''}}\nscheduler: {{enabled: false}}\n"
    )
    daemon = _start(tmp_path, config)
    try:
        assert "embedded" not in daemon.log
        assert not (tmp_path / "storage" / "redis.sock").exists()
    finally:
        assert daemon.stop() == 0, daemon.log
        daemon.close()
    assert not (tmp_path / "storage" / "redis").exists()


def _settings(tmp_path: Path, **redis: Any) -> Any:
    overrides = {f"redis.{k}": str(v) for k, v in redis.items()}
    return load_settings(None, env={}, overrides=overrides)


def test_when_the_embedded_one_is_wanted(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no config/bingo-scheduler.yaml here
    there, nothing = (lambda: True), (lambda: False)
    assert embedded.wanted(_settings(tmp_path), probe=nothing)
    assert not embedded.wanted(_settings(tmp_path), probe=there)  # a Redis at the default
    assert embedded.wanted(_settings(tmp_path, embedded="always"), probe=there)
    assert not embedded.wanted(_settings(tmp_path, embedded="never"), probe=nothing)
    for named in ({"url": redis_url}, {"host": "10.0.0.9:6379"}):
        assert not embedded.wanted(_settings(tmp_path, **named, embedded="always"), probe=nothing)
    host, _, port = redis_url.removeprefix("redis://").removesuffix("/0").partition(":")
    assert embedded.answers(host, int(port))
    with __import__("socket").socket() as free:
        free.bind(("127.0.0.1", 0))
        assert not embedded.answers("127.0.0.1", free.getsockname()[1])

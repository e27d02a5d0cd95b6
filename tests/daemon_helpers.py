"""Helpers for end-to-end tests: real daemon processes and the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

BIN = str(Path(sys.executable).with_name("bingo-scheduler"))


class Daemon:
    """One ``bingo-scheduler`` daemon process; its log lines are collected."""

    def __init__(self, config: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [BIN, "-c", str(config), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log:
            if self.proc.poll() is not None:
                time.sleep(0.1)
                raise AssertionError(f"daemon exited ({self.proc.returncode}):\n{self.log}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not logged within {timeout}s:\n{self.log}")
            time.sleep(0.02)

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def close(self) -> None:
        """Kill the process if it still runs and release its pipe."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def stop(self, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)


def write_config(path: Path, redis_url: str, **sections: dict[str, Any]) -> Path:
    base: dict[str, Any] = {
        "server": {"timezone": "UTC"},
        "redis": {"url": redis_url},
        "database": {"url": f"sqlite:///{path.parent / 'bingo.db'}"},
        "log": {"level": "info", "console": True, "path": ""},
        "worker": {
            "concurrency": 4,
            "lease": "2s",
            "recoverInterval": "200ms",
            "shutdownTimeout": "5s",
        },
        "scheduler": {"enabled": False},
    }
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    path.write_text(json.dumps(base))  # JSON is YAML
    return path


def cli(config: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [BIN, "-c", str(config), *args], capture_output=True, text=True, timeout=60
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}: {proc.stderr}")
    return proc


def wait_lines(path: Path, count: int, timeout: float = 15) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= count:
            return lines
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} has {lines}, expected {count} line(s)")
        time.sleep(0.02)

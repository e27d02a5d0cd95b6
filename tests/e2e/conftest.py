"""Fixtures for end-to-end tests: a config file and real daemon processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import Daemon, write_config


@pytest.fixture
def config(tmp_path: Path, redis_url: str) -> Callable[..., Path]:
    def make(**sections: dict[str, Any]) -> Path:
        return write_config(tmp_path / "bingo.yaml", redis_url, **sections)

    return make


@pytest.fixture
def daemons() -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def start(config: Path, *args: str, ready: bool = True, **kw: Any) -> Daemon:
        d = Daemon(config, *args, **kw)
        started.append(d)
        if ready:
            d.wait_for("worker ready")
        return d

    yield start
    for d in started:
        d.close()

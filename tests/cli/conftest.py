"""Fixtures of the CLI tests: a config file naming the test's Redis, and an app on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_helpers import write_config

from bingo_core.app import App
from bingo_core.config import load_settings


@pytest.fixture
def cfg(tmp_path: Path, redis_url: str) -> Path:
    return write_config(tmp_path / "bingo.yaml", redis_url)


@pytest.fixture
def app(cfg: Path) -> Iterator[App]:
    app = App(load_settings(cfg, env={}))
    yield app
    app.close()

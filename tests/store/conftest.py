"""Fixtures of the store tests: each test runs on a SQLite file and on MariaDB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rawdb import RawDB


@pytest.fixture(params=["sqlite", "mariadb"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database without a ``sys_crontab`` table: a new SQLite file, or the run's MariaDB."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bingo.db'}"
    url: str = request.getfixturevalue("mariadb_url")
    raw = RawDB(url)
    raw.execute("DROP TABLE IF EXISTS sys_crontab")
    raw.close()
    return url


@pytest.fixture
def raw(db_url: str) -> Iterator[RawDB]:
    """Driver-level access to ``db_url``."""
    conn = RawDB(db_url)
    yield conn
    conn.close()

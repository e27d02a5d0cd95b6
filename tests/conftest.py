"""Shared fixtures: a private redis-server per test session, a clean Redis per test,
and a fresh MariaDB database per run (dropped afterwards).

A missing service is a failure, never a skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from hypothesis import HealthCheck, settings

from bingo_core.testing import RedisServer

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
# The original service's config file, byte for byte: what its users bring.
SEED_CONFIG = FIXTURES / "original-bingo-scheduler.yaml"


# Property tests run beside real processes (and beside another pytest process under
# `make test`): a slow example is the machine's load, not a finding.
settings.register_profile("bingo", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("bingo")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under ``pytest -n N --dist loadgroup`` (what ``make test`` runs) each test file is
    one unit of work (its module fixtures start once), and every file holding a
    slow-marked test (real daemons, kills, timing) runs in one serial group, so two of
    them never compete for the machine; the rest, and slow files marked
    ``parallel_safe`` (browsers, pip installs, benchmark smoke runs), runs beside them."""
    slow_files = {
        item.path
        for item in items
        if item.get_closest_marker("slow") and not item.get_closest_marker("parallel_safe")
    }
    for item in items:
        group = "slow" if item.path in slow_files else str(item.path.relative_to(ROOT))
        item.add_marker(pytest.mark.xdist_group(group))


def pytest_configure(config: pytest.Config) -> None:
    """The plugin discovery cache of this run (and of the processes it starts) lives in a
    folder of its own, never in the user's cache left by an earlier run."""
    import shutil  # lazy: only the test session's own set-up needs these
    import tempfile  # lazy: as above

    folder = tempfile.mkdtemp(prefix="bingo-test-cache-")
    os.environ["XDG_CACHE_HOME"] = folder
    config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


@pytest.fixture(scope="session")
def redis_server(bingo_redis_server: RedisServer) -> RedisServer:
    """The session's private redis-server (killable and restartable by fault tests)."""
    return bingo_redis_server


@pytest.fixture
def redis_url(bingo_redis_url: str) -> str:
    """A clean Redis for this test (the session's private server, flushed)."""
    return bingo_redis_url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


MARIADB_HOST = os.environ.get("BINGO_TEST_MYSQL_HOST", "127.0.0.1")
MARIADB_PORT = int(os.environ.get("BINGO_TEST_MYSQL_PORT", "3306"))


@pytest.fixture(scope="session")
def mariadb_url() -> Iterator[str]:
    """SQLAlchemy URL of a fresh MariaDB database for this run, dropped afterwards."""
    import pymysql

    name = f"bingo_test_{uuid.uuid4().hex[:10]}"
    try:
        conn = pymysql.connect(host=MARIADB_HOST, port=MARIADB_PORT, user="root", password="")
    except pymysql.err.OperationalError as exc:
        pytest.fail(f"MariaDB at {MARIADB_HOST}:{MARIADB_PORT} is not reachable: {exc}")
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    conn.close()
    yield f"mysql+pymysql://root:@{MARIADB_HOST}:{MARIADB_PORT}/{name}?charset=utf8mb4"
    conn = pymysql.connect(host=MARIADB_HOST, port=MARIADB_PORT, user="root", password="")
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    conn.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'bingo.db'}"


@pytest.fixture
def seed_config() -> Path:
    """Path of the original service's ``bingo-scheduler.yaml`` (``tests/fixtures/``)."""
    return SEED_CONFIG

"""A Redis or a database that answers but refuses the login or the database, met by the CLI
and the Client: each is one line with its own hint, not "not reachable ... start
redis-server" (or "... is the server running?")."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bingo_core import Client, ServiceUnavailable
from bingo_core.testing import free_port

CLI = Path(sys.executable).with_name("bingo-scheduler")
PASSWORD = "s3cret-pass"


@pytest.fixture(scope="module")
def locked_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A private redis-server that requires a password; its port."""
    exe = shutil.which("redis-server")
    assert exe is not None, "redis-server is not installed"
    port = free_port()
    folder = tmp_path_factory.mktemp("locked-redis")
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(folder), "--requirepass", PASSWORD, "--loglevel", "warning"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(port=port, password=PASSWORD)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            assert time.monotonic() < deadline, "the locked redis-server did not start"
            time.sleep(0.02)
    client.close()
    yield port
    proc.kill()
    proc.wait()


def _line(tmp_path: Path, url: str) -> str:
    config = tmp_path / "bingo.yaml"
    config.write_text(f'redis: {{url: "{url}"}}\n')
    run = subprocess.run(
        [str(CLI), "-c", str(config), "stats"], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 1, run
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    assert "start redis-server" not in lines[0] and "not reachable" not in lines[0]
    return lines[0]


def test_a_missing_password(tmp_path: Path, locked_redis: int) -> None:
    line = _line(tmp_path, f"redis://127.0.0.1:{locked_redis}/0")
    assert line == (
        f"error: Redis at 127.0.0.1:{locked_redis} refused the login: it requires a password "
        "and none was given (set redis.password, and redis.username for an ACL user; or "
        "BINGO_REDIS__PASSWORD, or the password in redis.url)"
    )


def test_a_wrong_password(tmp_path: Path, locked_redis: int) -> None:
    line = _line(tmp_path, f"redis://:not-it@127.0.0.1:{locked_redis}/0")
    assert line.startswith(
        f"error: Redis at 127.0.0.1:{locked_redis} refused the login: wrong password, or the "
        "user is unknown or disabled (set redis.password"
    ), line
    assert "not-it" not in line


def test_a_database_out_of_range(tmp_path: Path, locked_redis: int) -> None:
    line = _line(tmp_path, f"redis://:{PASSWORD}@127.0.0.1:{locked_redis}/99")
    assert line == (
        f"error: Redis at 127.0.0.1:{locked_redis} refused the database: database 99: DB index "
        "is out of range (set redis.database, or the /N of redis.url, below the server's "
        "'databases' setting: 0 to 15 by default)"
    )


def test_the_client_says_the_same(locked_redis: int) -> None:
    refused = pytest.raises(ServiceUnavailable, match="refused the login: it requires a password")
    with Client(redis_url=f"redis://127.0.0.1:{locked_redis}/0") as client, refused:
        client.app.inspector.ping()


def _db_line(tmp_path: Path, url: str) -> str:
    config = tmp_path / "bingo.yaml"
    config.write_text(f'database: {{url: "{url}"}}\n')
    run = subprocess.run(
        [str(CLI), "-c", str(config), "db", "init"], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 1, run
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    assert "not reachable" not in lines[0] and "is the server running" not in lines[0]
    return lines[0]


def test_a_database_that_refuses_the_login_or_has_no_such_database(
    tmp_path: Path, bingo_mysql_url: str
) -> None:
    base, _, _ = bingo_mysql_url.rpartition("/")
    server = base.rsplit("@", 1)[1]
    denied = _db_line(tmp_path, f"mysql+pymysql://bingo_nobody:Not-It-42@{server}/bingo")
    assert denied.startswith(
        f"error: database at mysql+pymysql://bingo_nobody:***@{server}/bingo refused the login: "
    ), denied
    assert "Access denied" in denied and "check mysql.username and mysql.password" in denied
    missing = _db_line(tmp_path, f"{base}/bingo_no_such_db_here")
    assert " has no such database: " in missing and "Unknown database" in missing, missing
    assert "CREATE DATABASE `bingo_no_such_db_here`" in missing

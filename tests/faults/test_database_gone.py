"""The MariaDB database of ``sys_crontab`` dropped under a running daemon: the last good
schedule keeps firing; recreated with its row, the sync recovers; one line each way."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest
from daemon_helpers import wait_until

from .conftest import Processes

pytestmark = [pytest.mark.slow, pytest.mark.mysql]

HOST = os.environ.get("BINGO_TEST_MYSQL_HOST", "127.0.0.1")
PORT = int(os.environ.get("BINGO_TEST_MYSQL_PORT", "3306"))
OUTAGE = "keeping the last"
RECOVERY = "database reachable again"


def server_exec(sql: str, database: str | None = None, params: tuple[Any, ...] = ()) -> Any:
    conn = pymysql.connect(
        host=HOST, port=PORT, user="root", password="", database=database, autocommit=True
    )
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params or None)
            return cur.fetchall()
    finally:
        conn.close()


@pytest.fixture
def database() -> Iterator[str]:
    name = f"bingo_faults_{uuid.uuid4().hex[:10]}"
    try:
        server_exec(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    except pymysql.err.OperationalError as exc:
        pytest.fail(f"MariaDB at {HOST}:{PORT} is not reachable: {exc}")
    yield name
    server_exec(f"DROP DATABASE IF EXISTS `{name}`")


def lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_dropped_database_keeps_the_last_schedule_and_recovers(
    make_config: Any, procs: Processes, database: str, tmp_path: Path
) -> None:
    url = f"mysql+pymysql://root:@{HOST}:{PORT}/{database}?charset=utf8mb4"
    cfg = make_config(
        database={"url": url},
        scheduler={"enabled": True, "syncInterval": "1s", "leaderLease": "2s"},
    )
    d = procs.start(cfg)
    d.wait_for("created table sys_crontab")
    out = tmp_path / "fired.txt"
    payload = json.dumps({"path": str(out), "value": "row"})
    insert = (
        "INSERT INTO sys_crontab (id, name, type, spec, payload, status) "
        "VALUES (1, 'every second', 'test:record', '@every 1s', %s, 1)"
    )
    server_exec(insert, database, (payload,))
    ddl = server_exec("SHOW CREATE TABLE sys_crontab", database)[0][1]
    d.signal(signal.SIGUSR1)
    try:
        wait_until(lambda: lines(out) >= 2, 8, "the row fires")
    except AssertionError as exc:
        raise AssertionError(d.log) from exc

    mark = len(d.lines)
    server_exec(f"DROP DATABASE `{database}`")
    d.wait_for(OUTAGE, timeout=10)
    fired = lines(out)
    time.sleep(4)
    assert lines(out) >= fired + 3, "the last good schedule stopped firing"
    assert d.proc.poll() is None, d.log

    server_exec(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
    server_exec(ddl, database)
    server_exec(insert, database, (payload,))
    d.wait_for(RECOVERY, timeout=10)
    fired = lines(out)
    wait_until(lambda: lines(out) >= fired + 2, 6, "the row fires after the recovery")
    during = d.since(mark)
    text = "\n".join(during)
    assert sum(OUTAGE in line for line in during) == 1, text
    assert sum(RECOVERY in line for line in during) == 1, text
    assert "Traceback" not in d.log, d.log
    assert d.stop() == 0

"""The live sys_crontab sync through a real daemon: rows inserted with the original
README's plain SQL fire after SIGUSR1 or the next sync, bad rows are skipped and shown,
disabled rows stop. On SQLite and on real MariaDB."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pymysql
import pytest
from daemon_helpers import cli

pytestmark = pytest.mark.slow

INSERT = (
    "INSERT INTO sys_crontab (name, type, spec, payload, status) VALUES ({p}, {p}, {p}, {p}, {p})"
)


def sqlite_exec(url: str) -> Callable[[str, tuple[Any, ...]], None]:
    path = url.removeprefix("sqlite:///")

    def run(sql: str, params: tuple[Any, ...]) -> None:
        conn = sqlite3.connect(path, timeout=10)
        with conn:
            conn.execute(sql.format(p="?"), params)
        conn.close()

    return run


def mysql_exec(url: str) -> Callable[[str, tuple[Any, ...]], None]:
    parts = urlsplit(url)

    def run(sql: str, params: tuple[Any, ...]) -> None:
        conn = pymysql.connect(
            host=parts.hostname,
            port=parts.port or 3306,
            user="root",
            password="",
            database=parts.path.lstrip("/"),
            autocommit=True,
        )
        with conn.cursor() as cur:
            cur.execute(sql.format(p="%s"), params)
        conn.close()

    return run


def lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.05)


@pytest.mark.parametrize("backend", ["sqlite", "mariadb"])
def test_rows_fire_change_and_stop_without_restart(
    backend: str, request: Any, config: Any, daemons: Any, tmp_path: Path
) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'dyn.db'}"
        execute = sqlite_exec(url)
    else:
        url = request.getfixturevalue("mariadb_url")
        execute = mysql_exec(url)
        execute("DROP TABLE IF EXISTS sys_crontab", ())
    cfg = config(
        database={"url": url},
        scheduler={"enabled": True, "syncInterval": "2s", "leaderLease": "2s"},
    )
    d = daemons(cfg)
    d.wait_for("created table sys_crontab")
    out = tmp_path / "fired.txt"
    payload = json.dumps({"path": str(out), "value": "row"})
    # The original README's plain SQL (no created_at/updated_at), a 6-field spec.
    execute(INSERT, ("every second", "test:record", "* * * * * *", payload, 1))
    execute(INSERT, ("bad spec", "test:record", "61 * * * *", payload, 1))
    execute(INSERT, ("bad payload", "test:record", "* * * * *", '{"path": 5}', 1))
    started = time.monotonic()
    d.signal(signal.SIGUSR1)
    wait_until(lambda: lines(out) >= 2, 6, "the row fired twice")
    assert time.monotonic() - started < 5

    def listing() -> dict[str, Any]:
        data: dict[str, Any] = json.loads(cli(cfg, "cron", "list", "--json").stdout)
        return data

    # Both bad rows are kept with their error (published for the dashboard and cron list).
    wait_until(lambda: "61" in json.dumps(listing()["sync"]), 8, "row errors published")
    state = listing()
    sources = {e["source"] for e in state["entries"]}
    assert "db:1" in sources and "db:2" not in sources and "db:3" not in sources
    assert "path" in json.dumps(state["sync"])
    assert "schedule 'bad spec' (db:2)" in d.log
    # Change the spec (every 2 seconds, on even seconds); applied by the periodic sync.
    execute("UPDATE sys_crontab SET spec = {p} WHERE id = 1", ("*/2 * * * * *",))
    wait_until(
        lambda: any(e["spec"] == "*/2 * * * * *" for e in listing()["entries"]),
        8,
        "the changed spec applied",
    )
    # Disable it: it stops firing.
    execute("UPDATE sys_crontab SET status = {p} WHERE id = 1", (0,))
    d.signal(signal.SIGUSR1)
    wait_until(
        lambda: all(e["source"] != "db:1" for e in listing()["entries"]),
        8,
        "the disabled row removed",
    )
    time.sleep(1.5)
    count = lines(out)
    time.sleep(2.5)
    assert lines(out) == count, "a disabled row still fired"
    assert d.stop() == 0

"""``bingo-scheduler db init`` and ``cron add/enable/disable/delete``, run as real processes."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pymysql
import pytest

from bingo_core.store import Store

#: The console script of the environment running the tests.
CLI = Path(sys.executable).with_name("bingo-scheduler")

PLUGIN = '''
from pydantic import BaseModel

from bingo_core.plugins import hookimpl


class StatsPayload(BaseModel):
    date: str = "today"
    limit: int = 10


def handle_stats(ctx, payload):
    """Count things."""


@hookimpl
def bingo_register_tasks(register):
    register("task:daily-stats", handle_stats, payload=StatsPayload)
'''


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Cli:
    """Runs the installed console script against one config file."""

    def __init__(self, tmp_path: Path, database_url: str) -> None:
        self.cwd = tmp_path
        plugin_dir = tmp_path / "plugins"
        dist = plugin_dir / "bingo_cli_testplug-0.1.dist-info"
        dist.mkdir(parents=True)
        (plugin_dir / "bingo_cli_testplug.py").write_text(PLUGIN)
        (dist / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: bingo-cli-testplug\nVersion: 0.1\n"
        )
        (dist / "entry_points.txt").write_text(
            "[bingo.plugins]\ncli-testplug = bingo_cli_testplug\n"
        )
        self.config = tmp_path / "bingo.yaml"
        self.config.write_text(
            textwrap.dedent(
                f"""\
                server:
                  timezone: Asia/Shanghai
                database:
                  url: "{database_url}"
                """
            )
        )
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("BINGO_")}
        self.env["PYTHONPATH"] = os.pathsep.join(
            [str(plugin_dir), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
        self.env["BINGO_PLUGINS"] = "cli-testplug"

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(CLI), "-c", str(self.config), *args],
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def __call__(self, *args: str) -> Run:
        return self.many([list(args)])[0]

    def many(self, commands: list[list[str]]) -> list[Run]:
        """Run independent commands side by side (each process mostly waits on imports)."""
        procs = [self.start(*args) for args in commands]
        runs = []
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            runs.append(Run(proc.returncode, out, err))
        return runs


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "bingo.db"


@pytest.fixture
def cli(tmp_path: Path, db_path: Path) -> Cli:
    return Cli(tmp_path, f"sqlite:///{db_path}")


def table(db_path: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db_path)
    try:
        return list(conn.execute("SELECT id, name, type, spec, payload, status FROM sys_crontab"))
    finally:
        conn.close()


def assert_one_line_error(run: Run, code: int, *needles: str) -> None:
    assert run.code == code, run
    lines = run.err.strip().splitlines()
    assert len(lines) == 1, run.err
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0]
    assert "Traceback" not in run.err


def test_db_init_creates_the_table_once(cli: Cli, db_path: Path) -> None:
    first = cli("db", "init")
    assert first.code == 0, first
    assert "created table sys_crontab" in first.out
    assert table(db_path) == []
    again = cli("db", "init", "--json")
    assert again.code == 0, again
    assert again.json() == {
        "table": "sys_crontab",
        "created": False,
        "database": f"sqlite:///{db_path}",
    }


@pytest.fixture
def ready(cli: Cli, db_path: Path) -> Cli:
    """The CLI with the table in place (created here, in-process: ``db init`` has its test)."""
    with Store(f"sqlite:///{db_path}") as store:
        store.init_schema()
    return cli


def test_add_enable_disable_delete(ready: Cli, db_path: Path) -> None:
    cli = ready
    added = cli(
        "cron", "add", "Daily Statistics", "task:daily-stats", "0 1 * * *",
        "--payload", '{"date":"today"}', "--json",
    )  # fmt: skip
    assert added.code == 0, added
    row = added.json()
    assert (row["name"], row["type"], row["spec"], row["payload"], row["status"]) == (
        "Daily Statistics",
        "task:daily-stats",
        "0 1 * * *",
        '{"date":"today"}',
        1,
    )
    assert row["created_at"] is not None
    assert row["note"] == (
        "running daemons start it at their next sync (within 10s), "
        "or now with: kill -USR1 <daemon pid>"
    )
    first = row["id"]

    plain = cli("cron", "add", "nightly", "task:daily-stats", "@every 1h30m", "--disabled")
    assert plain.code == 0, plain
    second = first + 1
    added_line, note = plain.out.splitlines()
    assert added_line.startswith("added sys_crontab row") and "(disabled)" in added_line
    assert (
        note
        == f"it does not run until enabled: bingo-scheduler -c {cli.config} cron enable {second}"
    )
    assert table(db_path) == [
        (first, "Daily Statistics", "task:daily-stats", "0 1 * * *", '{"date":"today"}', 1),
        (second, "nightly", "task:daily-stats", "@every 1h30m", None, 0),
    ]

    conn = sqlite3.connect(db_path)
    with conn:
        third = conn.execute(
            "INSERT INTO sys_crontab (name, type, spec, status) "
            "VALUES ('gone', 'task:gone', '@daily', 0)"
        ).lastrowid
    conn.close()
    # Three processes write the same SQLite file at once; each waits for the others' locks.
    enabled, disabled, warned = cli.many(
        [
            ["cron", "enable", str(second), "--json"],
            ["cron", "disable", str(first)],
            ["cron", "enable", str(third)],
        ]
    )
    assert enabled.code == 0, enabled
    assert enabled.json()["status"] == 1 and enabled.err == ""
    assert enabled.json()["note"].startswith("running daemons start it at their next sync")
    assert disabled.code == 0, disabled
    assert disabled.out.splitlines() == [
        f"disabled sys_crontab row {first} 'Daily Statistics': task:daily-stats at "
        "'0 1 * * *' (disabled)",
        "running daemons stop it at their next sync (within 10s), "
        "or now with: kill -USR1 <daemon pid>",
    ]
    assert warned.code == 0, warned
    assert f"enabled sys_crontab row {third} 'gone'" in warned.out
    assert "the sync skips it until it is fixed" in warned.out
    assert f"warning: sys_crontab row {third} will be skipped by the sync" in warned.err
    assert "task:gone" in warned.err
    assert [r[5] for r in table(db_path)] == [0, 1, 1]

    deleted = cli("cron", "delete", str(first), "--json")
    assert deleted.code == 0, deleted
    assert deleted.json()["deleted"] is True and deleted.json()["id"] == first
    assert deleted.json()["note"] == "it was not running (disabled)"
    running = cli("cron", "delete", str(second))
    assert running.code == 0, running
    assert running.out.splitlines()[1].startswith("running daemons stop it at their next sync")
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute(
            "INSERT INTO sys_crontab (id, name, type, spec, status) "
            "VALUES (?, 'nightly', 'task:daily-stats', '@every 1h30m', 0)",
            (second,),
        )
    conn.close()
    assert [r[0] for r in table(db_path)] == [second, third]

    for run in cli.many([["cron", "delete", str(first)], ["cron", "enable", str(first)]]):
        assert_one_line_error(run, 2, f"sys_crontab row {first} does not exist")
    assert [r[0] for r in table(db_path)] == [second, third]


BAD_ROWS = {
    "spec": (["bad spec", "task:daily-stats", "61 * * * *"], "61"),
    "type": (["unknown", "task:nope", "@daily"], "task:nope"),
    "json": (["not json", "task:daily-stats", "@daily", "--payload", "{date: x}"], "JSON"),
    "not-object": (["a list", "task:daily-stats", "@daily", "--payload", "[1]"], "object"),
    "model": (["bad field", "task:daily-stats", "@daily", "--payload", '{"limit": "x"}'], "limit"),
    "name-too-long": (["x" * 101, "task:daily-stats", "@daily"], "at most 100"),
}


def test_the_note_uses_the_configured_sync_interval(ready: Cli) -> None:
    base = ready.config.read_text()
    ready.config.write_text(base + "scheduler:\n  syncInterval: 1m30s\n")
    run = ready("cron", "add", "stats", "task:daily-stats", "0 1 * * *")
    assert run.code == 0, run
    assert run.out.splitlines()[1] == (
        "running daemons start it at their next sync (within 1m30s), "
        "or now with: kill -USR1 <daemon pid>"
    )
    ready.config.write_text(base + "scheduler:\n  enabled: false\n")
    run = ready("cron", "disable", "1")
    assert run.code == 0, run
    assert run.out.splitlines()[1] == (
        "daemons with this config do not run the scheduler (scheduler.enabled is false); "
        "one that does will stop it at its next sync"
    )


@pytest.mark.parametrize(
    ("url", "needles"),
    [
        (
            "mysql+pymysql://root:s3cret@db:port/bingo",
            [
                "database.url 'mysql+pymysql://root:***@db:port/bingo'",
                "the port 'port' is not a number",
            ],
        ),
        (
            "mysql+pymysql://root:s3cret@db:70000/bingo",
            ["database.url 'mysql+pymysql://root:***@db:70000/bingo'", "not in 1-65535"],
        ),
        (
            "mysql+pymysql://root:s3cret@127.0.0.1:1/bingo?conect_timeout=5",
            ["unknown query parameter 'conect_timeout'", "did you mean connect_timeout?"],
        ),
        (
            "mysql+pymysql://root:s3cret@127.0.0.1:1/bingo?connect_timeout=soon",
            ["query parameter connect_timeout='soon' is not valid"],
        ),
        ("sqlite:///data/x.db?colour=red", ["unknown query parameter 'colour'", "pysqlite"]),
        ("not a url at all", ["database.url 'not a url at all': not a URL (expected dialect+"]),
    ],
)
def test_bad_database_url_is_one_line_without_the_password(
    tmp_path: Path, url: str, needles: list[str]
) -> None:
    cli = Cli(tmp_path, url)
    for run in cli.many(
        [
            ["db", "init"],
            ["cron", "add", "a", "task:daily-stats", "@daily"],
            ["cron", "enable", "1"],
        ]
    ):
        assert_one_line_error(run, 2, "database.url", *needles)
        assert "s3cret" not in run.err and run.out == ""


def test_bad_rows_exit_2_and_write_nothing(ready: Cli, db_path: Path) -> None:
    runs = ready.many([["cron", "add", *args, "--disabled"] for args, _ in BAD_ROWS.values()])
    for (label, (_, needle)), run in zip(BAD_ROWS.items(), runs, strict=True):
        assert run.out == "", label
        assert_one_line_error(run, 2, needle)
    assert "schedule 'bad spec' (sys_crontab): " in runs[0].err
    assert table(db_path) == []


def test_missing_table_and_database_down_exit_1(cli: Cli, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = Cli(tmp_path / "down", f"mysql+pymysql://root:s3cret@127.0.0.1:{port}/bingo")
    waiting = [
        down.start("db", "init"),
        down.start("cron", "add", "a", "task:daily-stats", "@daily"),
    ]
    missing = cli("cron", "disable", "1")
    assert_one_line_error(missing, 1, "database at sqlite:///", "bingo-scheduler db init")
    for proc in waiting:
        out, err = proc.communicate(timeout=60)
        run = Run(proc.returncode, out, err)
        assert_one_line_error(run, 1, f"127.0.0.1:{port}", "not reachable")
        assert "s3cret" not in run.err


@pytest.fixture
def mariadb_cli(mariadb_url: str, tmp_path: Path) -> Iterator[Cli]:
    parsed = urlsplit(mariadb_url)
    conn = pymysql.connect(
        host=parsed.hostname,
        port=parsed.port or 3306,
        user=parsed.username,
        password=parsed.password or "",
        database=parsed.path.lstrip("/"),
    )
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS sys_crontab")
    conn.close()
    yield Cli(tmp_path, mariadb_url)


def test_mariadb_round_trip(mariadb_cli: Cli) -> None:
    cli = mariadb_cli
    assert cli("db", "init").code == 0
    added = cli("cron", "add", "stats", "task:daily-stats", "0 1 * * *", "--json")
    assert added.code == 0, added
    row_id = added.json()["id"]
    assert cli("cron", "delete", str(row_id)).code == 0
    assert_one_line_error(cli("cron", "delete", str(row_id)), 2, f"row {row_id}")

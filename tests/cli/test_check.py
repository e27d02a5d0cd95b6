"""``bingo-scheduler check``, run as a real process against real Redis, SQLite and MariaDB."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bingo_core.store import DISABLED, Store

BIN = str(Path(sys.executable).with_name("bingo-scheduler"))
GOOD = {
    "name": "good",
    "spec": "*/5 * * * * *",
    "type": "test:record",
    "payload": {"path": "/tmp/out", "value": "v"},
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(tmp_path: Path, redis_url: str, database_url: str, **extra: Any) -> Path:
    cfg: dict[str, Any] = {
        "server": {"timezone": "UTC"},
        "redis": {"url": redis_url},
        "database": {"url": database_url},
        "log": {"level": "warning", "console": True, "path": ""},
        "schedules": [GOOD],
        **extra,
    }
    path = tmp_path / "bingo.yaml"
    path.write_text(json.dumps(cfg))
    return path


def check(
    config: Path, *args: str, plugins: str | None = "testplug"
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINGO_")}
    if plugins is not None:
        env["BINGO_PLUGINS"] = plugins
    return subprocess.run(
        [BIN, "-c", str(config), "check", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=config.parent,
    )


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    store = Store(sqlite_url)
    store.init_schema()
    yield store
    store.close()


def test_all_good_exits_0(tmp_path: Path, redis_url: str, sqlite_url: str, store: Store) -> None:
    store.add("stats", "test:record", "0 1 * * *", '{"path": "/tmp/x", "value": "y"}')
    config = write_config(tmp_path, redis_url, sqlite_url)
    run = check(config)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert run.stdout.startswith("ok: config ")
    assert "1 sys_crontab rows" in run.stdout and "1 static schedule entries" in run.stdout
    data = json.loads(check(config, "--json").stdout)
    assert data["ok"] is True and data["exit_code"] == 0 and data["problems"] == []
    assert data["summary"]["crontab_valid"] == 1


def test_invalid_entries_one_line_each_exit_2(
    tmp_path: Path, redis_url: str, sqlite_url: str, store: Store
) -> None:
    row_ok = store.add("fine", "test:record", "@every 1h", '{"path": "/tmp/x", "value": "y"}')
    row_type = store.add("ghost", "task:nosuch", "0 1 * * *", "{}")
    row_spec = store.add("late", "test:record", "0 25 * * *", '{"path": "/x", "value": "y"}')
    row_off = store.add("off", "test:record", "0 1 * * *", "not json", DISABLED)
    bad_spec = {**GOOD, "name": "broken", "spec": "61 * * * *"}
    bad_payload = {**GOOD, "name": "nopath", "payload": {"value": "v"}}
    config = write_config(tmp_path, redis_url, sqlite_url, schedules=[GOOD, bad_spec, bad_payload])
    run = check(config)
    assert run.returncode == 2, run.stderr
    errors = run.stderr.splitlines()
    assert len(errors) == 4, errors
    assert any("'broken'" in e and "61" in e for e in errors)
    assert any("'nopath'" in e and "path" in e for e in errors)
    assert any(f"row {row_type} 'ghost'" in e and "task:nosuch" in e for e in errors)
    assert any(f"row {row_spec} 'late'" in e and "25" in e for e in errors)
    assert not any(f"row {row_ok} " in e for e in errors)
    # A disabled row does not run: its problem is a warning and leaves the exit code alone.
    assert f"warning: sys_crontab row {row_off} 'off' (disabled)" in run.stdout
    data = json.loads(check(config, "--json").stdout)
    assert data["exit_code"] == 2
    kinds = sorted(p["kind"] for p in data["problems"])
    assert kinds == ["invalid"] * 4 + ["warning"]


def test_workflow_entries_are_checked_step_by_step(
    tmp_path: Path, redis_url: str, sqlite_url: str, store: Store
) -> None:
    step = {"type": "test:record", "payload": {"path": "/tmp/out", "value": "v"}}
    good = {"name": "etl", "spec": "0 2 * * *", "workflow": {"chain": [step, {"group": [step]}]}}
    bad_payload = {
        "name": "etl-bad",
        "spec": "0 2 * * *",
        "workflow": {"chain": [step, {"group": [step, {"type": "test:record"}]}]},
    }
    empty = {"name": "etl-empty", "spec": "0 2 * * *", "workflow": [step, {"group": []}]}
    config = write_config(tmp_path, redis_url, sqlite_url, schedules=[good, bad_payload, empty])
    run = check(config)
    assert run.returncode == 2, run.stderr
    errors = run.stderr.splitlines()
    assert len(errors) == 2, errors
    assert errors[0].startswith("error: schedule 'etl-bad' (config): steps[1][1]: payload for "), (
        errors
    )
    assert errors[1] == "error: schedule 'etl-empty' (config): steps[1]: empty group"
    data = json.loads(check(config, "--json").stdout)
    assert data["summary"]["static_entries"] == 1


def test_redis_down_exits_1_naming_the_address(
    tmp_path: Path, sqlite_url: str, store: Store
) -> None:
    port = free_port()
    bad_spec = {**GOOD, "name": "broken", "spec": "61 * * * *"}
    config = write_config(tmp_path, f"redis://127.0.0.1:{port}/0", sqlite_url, schedules=[bad_spec])
    run = check(config)
    assert run.returncode == 1
    lines = run.stderr.splitlines()
    assert any(f"Redis at 127.0.0.1:{port} is not reachable" in line for line in lines), lines
    assert any("'broken'" in line for line in lines)  # the other checks still ran


def test_missing_table_exits_1_with_the_db_init_hint(
    tmp_path: Path, redis_url: str, sqlite_url: str
) -> None:
    config = write_config(tmp_path, redis_url, sqlite_url)
    run = check(config)
    assert run.returncode == 1
    assert "table sys_crontab is missing" in run.stderr
    assert f"bingo-scheduler -c {config} db init" in run.stderr


@pytest.mark.mysql
def test_mariadb_missing_table_then_good(tmp_path: Path, redis_url: str, mariadb_url: str) -> None:
    config = write_config(tmp_path, redis_url, mariadb_url)
    run = check(config)
    assert run.returncode == 1
    assert "table sys_crontab is missing" in run.stderr and "db init" in run.stderr
    with Store(mariadb_url) as store:
        store.init_schema()
        row = store.add("bad", "test:record", "0 1 * * *", '{"path": 1}')
    run = check(config)
    assert run.returncode == 2
    assert f"sys_crontab row {row} 'bad'" in run.stderr
    with Store(mariadb_url) as store:
        store.delete(row)
    assert check(config).returncode == 0


def test_database_down_exits_1(tmp_path: Path, redis_url: str) -> None:
    port = free_port()
    config = write_config(tmp_path, redis_url, f"mysql+pymysql://root:@127.0.0.1:{port}/bingo")
    run = check(config)
    assert run.returncode == 1
    assert f"127.0.0.1:{port}" in run.stderr and "not reachable" in run.stderr


def test_broken_plugins_are_listed_exit_2(
    tmp_path: Path, redis_url: str, sqlite_url: str, store: Store
) -> None:
    config = write_config(tmp_path, redis_url, sqlite_url)
    run = check(config, plugins=None)
    assert run.returncode == 2
    lines = run.stderr.splitlines()
    assert any("'broken_import'" in line and "nonexistent_lib" in line for line in lines)
    assert any("'broken_register'" in line and "bad registration" in line for line in lines)


def test_invalid_config_exits_2_naming_the_key(tmp_path: Path, redis_url: str) -> None:
    config = write_config(tmp_path, redis_url, "sqlite:///x.db", server={"timezone": "Mars/X"})
    run = check(config)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1
    assert "server.timezone" in run.stderr and "Mars/X" in run.stderr
    data = json.loads(check(config, "--json").stdout)
    assert data["exit_code"] == 2
    assert data["problems"][0]["what"] == "config"

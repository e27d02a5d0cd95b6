"""The Store on a real SQLite file and on real MariaDB."""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from rawdb import RawDB

from bingo_core.config import load_settings
from bingo_core.errors import ConfigError, ServiceUnavailable, UsageError
from bingo_core.store import DISABLED, ENABLED, Store, store_from_settings

SEED_INSERT = """
INSERT INTO `sys_crontab`
(`name`, `type`, `spec`, `payload`, `status`)
VALUES
('Daily Statistics', 'task:daily-stats', '0 1 * * *', '{"date":"today"}', 1);
"""

SEED_CREATE = """
CREATE TABLE `sys_crontab` (
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `name` varchar(100) NOT NULL COMMENT 'Task name',
  `type` varchar(50) NOT NULL COMMENT 'Task type',
  `spec` varchar(100) NOT NULL COMMENT 'Cron expression',
  `payload` text COMMENT 'Task parameters (JSON)',
  `status` tinyint NOT NULL DEFAULT '1' COMMENT 'Status: 1-enabled, 0-disabled',
  `created_at` datetime DEFAULT NULL,
  `updated_at` datetime DEFAULT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
"""

SEED_CONFIG = """
server:
  timezone: Asia/Shanghai
mysql:
  host: mysql:3306
  username: root
  password: root
  database: bingo
  maxIdleConnections: 100
  maxOpenConnections: 100
  maxConnectionLifeTime: 10s
  logLevel: 4
"""


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with Store(db_url) as opened:
        yield opened


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_init_schema_creates_the_table_once(store: Store) -> None:
    assert store.has_schema() is False
    assert store.init_schema() is True
    assert store.init_schema() is False
    assert store.has_schema() is True
    assert store.rows() == []


def test_seed_insert_reads_back_as_a_row(store: Store, raw: RawDB) -> None:
    store.init_schema()
    raw.execute(SEED_INSERT)
    raw.execute("INSERT INTO sys_crontab (name, type, spec) VALUES ('no payload', 't', '@daily')")
    rows = store.rows()
    assert [(r.name, r.type, r.spec, r.payload, r.status) for r in rows] == [
        ("Daily Statistics", "task:daily-stats", "0 1 * * *", '{"date":"today"}', 1),
        ("no payload", "t", "@daily", None, 1),  # status defaults to 1 in the database
    ]
    assert rows[0].id < rows[1].id
    assert store.scan() == [
        (rows[0].id, "Daily Statistics", "task:daily-stats", "0 1 * * *", '{"date":"today"}', 1),
        (rows[1].id, "no payload", "t", "@daily", None, 1),
    ]
    assert rows[0].created_at is None
    assert rows[0].enabled


def test_add_get_update_delete(store: Store, raw: RawDB) -> None:
    store.init_schema()
    first = store.add("one", "task:a", "* * * * *", '{"n": 1}', ENABLED)
    second = store.add("two", "task:b", "@hourly", None, DISABLED)
    assert second > first
    row = store.get(first)
    assert row is not None
    assert (row.name, row.type, row.spec, row.payload, row.status) == (
        "one",
        "task:a",
        "* * * * *",
        '{"n": 1}',
        1,
    )
    assert isinstance(row.created_at, datetime)
    assert row.created_at == row.updated_at
    assert store.get(second) is not None and not store.get(second).enabled  # type: ignore[union-attr]

    assert store.set_status(first, DISABLED) is True
    assert store.set_status(first, DISABLED) is True  # unchanged value, row still found
    assert raw.execute("SELECT status FROM sys_crontab WHERE id = %s", (first,)) == [(0,)]
    assert store.update(first, spec="@daily", payload=None) is True
    row = store.get(first)
    assert row is not None and (row.spec, row.payload, row.name) == ("@daily", None, "one")

    assert store.delete(first) is True
    assert store.delete(first) is False
    assert store.get(first) is None
    assert store.set_status(first, ENABLED) is False
    assert store.update(first, name="x") is False
    assert [r.id for r in store.rows()] == [second]
    assert store.get(second).to_dict()["name"] == "two"  # type: ignore[union-attr]


def test_utf8mb4_text_round_trips(store: Store) -> None:
    store.init_schema()
    row_id = store.add("报表 📈", "task:a", "0 2 * * *", '{"who": "运营 🚀"}')
    row = store.get(row_id)
    assert row is not None and (row.name, row.payload) == ("报表 📈", '{"who": "运营 🚀"}')


def test_missing_table_names_db_init(store: Store) -> None:
    with pytest.raises(ServiceUnavailable) as info:
        store.rows()
    text = str(info.value)
    assert "sys_crontab" in text and "bingo-scheduler db init" in text
    assert "\n" not in text


def test_mariadb_table_matches_the_seed_definition(mariadb_url: str) -> None:
    raw = RawDB(mariadb_url)
    try:
        raw.execute("DROP TABLE IF EXISTS sys_crontab")
        with Store(mariadb_url) as store:
            store.init_schema()
        ours = raw.execute("SHOW CREATE TABLE sys_crontab")[0][1]
        raw.execute("DROP TABLE sys_crontab")
        raw.execute(SEED_CREATE)
        seed = raw.execute("SHOW CREATE TABLE sys_crontab")[0][1]
    finally:
        raw.close()
    assert ours == seed


def test_table_created_by_the_original_service_is_used_as_is(mariadb_url: str) -> None:
    raw = RawDB(mariadb_url)
    try:
        raw.execute("DROP TABLE IF EXISTS sys_crontab")
        raw.execute(SEED_CREATE)
        raw.execute(SEED_INSERT)
        with Store(mariadb_url) as store:
            assert store.init_schema() is False
            row_id = store.add("more", "task:x", "@daily")
            assert [r.name for r in store.rows()] == ["Daily Statistics", "more"]
            assert store.get(row_id) is not None
    finally:
        raw.close()


def test_sqlite_id_is_the_rowid_and_the_folder_is_created(tmp_path: Path) -> None:
    path = tmp_path / "storage" / "deeper" / "bingo.db"
    with Store(f"sqlite:///{path}") as store:
        store.init_schema()
        assert store.add("a", "t", "@daily") == 1
        assert store.add("b", "t", "@daily") == 2
    conn = sqlite3.connect(path)
    try:
        info = {row[1]: row for row in conn.execute("PRAGMA table_info(sys_crontab)")}
        assert info["id"][2] == "INTEGER" and info["id"][5] == 1
        assert info["status"][3] == 1 and info["status"][4] == "1"
        assert info["payload"][3] == 0 and info["created_at"][3] == 0
    finally:
        conn.close()


def test_sqlite_waits_for_another_writer_instead_of_failing(tmp_path: Path) -> None:
    path = tmp_path / "bingo.db"
    with Store(f"sqlite:///{path}") as store:
        store.init_schema()
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            other.execute("BEGIN EXCLUSIVE")
            other.execute("INSERT INTO sys_crontab (name, type, spec) VALUES ('x', 't', '@daily')")
            release = threading.Timer(0.3, other.execute, args=("COMMIT",))
            release.start()
            started = time.monotonic()
            row_id = store.add("y", "t", "@daily")  # blocks until the other process commits
            waited = time.monotonic() - started
            release.join()
        finally:
            other.close()
        assert waited >= 0.2
        assert row_id == 2
        assert [r.name for r in store.rows()] == ["x", "y"]


@pytest.mark.parametrize(
    ("make_url", "expected", "hint"),
    [
        (
            lambda base: f"mysql+pymysql://root:s3cret@127.0.0.1:{closed_port()}/bingo",
            "Connection refused",
            "is the server running",
        ),
        (
            lambda base: base.rsplit("/", 1)[0] + "/bingo_no_such_db_x?charset=utf8mb4",
            "Unknown database",
            "CREATE DATABASE `bingo_no_such_db_x`",
        ),
        (
            lambda base: base.replace("root:@", "bingo_nobody:s3cret@"),
            "Access denied",
            "mysql.username",
        ),
    ],
    ids=["server-down", "unknown-database", "bad-credentials"],
)
def test_mysql_failures_are_one_line_service_errors(
    mariadb_url: str, make_url: object, expected: str, hint: str
) -> None:
    url = make_url(mariadb_url)  # type: ignore[operator]
    with Store(url) as store, pytest.raises(ServiceUnavailable) as info:
        store.rows()
    text = str(info.value)
    assert text.startswith("database at mysql+pymysql://")
    assert expected in text and hint in text
    assert "s3cret" not in text
    assert "\n" not in text
    assert info.value.service == "database"


def test_sqlite_unusable_path_is_a_service_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ServiceUnavailable) as info:
        Store(f"sqlite:///{blocker / 'sub' / 'bingo.db'}")
    assert "cannot create the folder" in str(info.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "mysql+pymysql://root:s3cret@db:three/bingo",
            "database.url 'mysql+pymysql://root:***@db:three/bingo': the port 'three' is not a "
            "number (expected dialect+driver://user:password@host:port/database)",
        ),
        (
            "mysql+pymysql://root:s3cret@db:0/bingo",
            "database.url 'mysql+pymysql://root:***@db:0/bingo': the port 0 is not in 1-65535",
        ),
        (
            "mysql+pymysql://root:s3cret@db/bingo?sslca=/etc/ca.pem",
            "database.url 'mysql+pymysql://root:***@db/bingo?sslca=%2Fetc%2Fca.pem': unknown query "
            "parameter 'sslca' for the pymysql driver (did you mean ssl_ca?)",
        ),
        (
            "mysql+pymysql://root@db/bingo?password=s3cret&colour=red",
            "database.url 'mysql+pymysql://root@db/bingo?colour=red&password=***': unknown "
            "query parameter 'colour' for the pymysql driver (see the driver's connect() "
            "arguments)",
        ),
        (
            "mysql+pymysql://root:s3cret@db/bingo?read_timeout=soon",
            "database.url 'mysql+pymysql://root:***@db/bingo?read_timeout=soon': query "
            "parameter read_timeout='soon' is not valid: invalid literal for int() with base "
            "10: 'soon'",
        ),
        (
            "sqlite:///{tmp}/x.db?journal=wal",
            "database.url 'sqlite:///{tmp}/x.db?journal=wal': unknown query parameter "
            "'journal' (the pysqlite driver does not take it)",
        ),
        (
            "s3cret",
            "database.url 's3cret': not a URL "
            "(expected dialect+driver://user:password@host:port/database)",
        ),
    ],
)
def test_a_database_url_that_cannot_work_is_one_config_line(
    tmp_path: Path, url: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        Store(url.format(tmp=tmp_path))
    assert str(info.value) == message.format(tmp=tmp_path)
    assert isinstance(info.value, UsageError)
    if url != "s3cret":
        assert "s3cret" not in str(info.value)


def test_known_query_parameters_still_work(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'x.db'}?timeout=3") as store:
        store.init_schema()
        assert store.rows() == []
    with Store("mysql+pymysql://root:s3cret@db/bingo?connect_timeout=3&ssl_ca=/ca.pem") as store:
        assert store.display_url.startswith("mysql+pymysql://root:***@db/bingo?")


def test_store_from_the_seed_config_uses_its_mysql_pool(tmp_path: Path) -> None:
    config = tmp_path / "bingo-scheduler.yaml"
    config.write_text(SEED_CONFIG)
    settings = load_settings(config, env={})
    with store_from_settings(settings) as store:
        assert store.display_url == "mysql+pymysql://root:***@mysql:3306/bingo?charset=utf8mb4"
        pool = store.engine.pool
        assert pool.size() == 100  # type: ignore[attr-defined]
        assert pool._max_overflow == 0  # type: ignore[attr-defined]
        assert pool._recycle == 10


def test_store_from_settings_without_a_database_is_sqlite_under_storage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(None, env={})
    with store_from_settings(settings) as store:
        assert store.is_sqlite
        store.init_schema()
    assert (tmp_path / "storage" / "bingo.db").is_file()


def test_store_from_settings_go_pool_limits(mariadb_url: str, tmp_path: Path) -> None:
    config = tmp_path / "bingo.yaml"
    config.write_text(
        "mysql:\n  host: 127.0.0.1:1\n  username: root\n  database: bingo\n"
        "  maxIdleConnections: 0\n  maxOpenConnections: 0\n"
        f"database:\n  url: '{mariadb_url}'\n"
    )
    settings = load_settings(config, env={})
    with store_from_settings(settings) as store:
        assert store.display_url == mariadb_url  # database.url wins over the mysql section
        assert store.engine.pool.size() == 1  # type: ignore[attr-defined]
        assert store.engine.pool._max_overflow == -1  # type: ignore[attr-defined]
        store.ping()

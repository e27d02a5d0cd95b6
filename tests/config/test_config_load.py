"""Loading settings: the original file, defaults, the default file, env and overrides."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from bingo_core.config import Settings, load_settings
from bingo_core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FILE = ROOT / "config" / "bingo-scheduler.yaml"


@pytest.fixture(autouse=True)
def _no_config_in_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in an empty folder so no config/bingo-scheduler.yaml is picked up."""
    monkeypatch.chdir(tmp_path)


def write(tmp_path: Path, text: str, name: str = "bingo.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_seed_file_loads_unchanged(seed_config: Path) -> None:
    raw: dict[str, Any] = yaml.safe_load(seed_config.read_text())
    s = load_settings(seed_config, env={})
    assert s.server.model_dump(by_alias=True) == raw["server"]
    assert s.server.zone.key == "Asia/Shanghai"
    assert (s.redis.host, s.redis.password, s.redis.database) == ("redis:6379", "", 1)
    assert s.redis.address == "redis:6379"
    assert s.mysql is not None
    assert s.mysql.host == raw["mysql"]["host"] == "mysql:3306"
    assert (s.mysql.username, s.mysql.password, s.mysql.database) == ("root", "root", "bingo")
    assert s.mysql.max_idle_connections == s.mysql.max_open_connections == 100
    assert s.mysql.max_connection_life_time == 10.0
    assert s.mysql.log_level == 4
    assert s.log.model_dump(by_alias=True) == {**raw["log"], "maxSize": 100.0}
    assert s.feature.queue_dash is True
    assert s.database_url() == "mysql+pymysql://root:root@mysql:3306/bingo?charset=utf8mb4"


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings(None, env={})
    assert s == Settings()
    assert (s.server.addr, s.server.timezone, s.server.key) == (":8080", "UTC", "")
    assert (s.redis.host, s.redis.database, s.redis.prefix) == ("127.0.0.1:6379", 0, "bingo")
    assert (s.redis.socket_timeout, s.redis.connect_timeout) == (5.0, 0.5)
    assert s.mysql is None and s.redis.sentinel is None
    assert s.database_url() == "sqlite:///storage/bingo.db"
    w = s.worker
    assert (w.concurrency, w.queues, w.strict_priority) == (50, {"default": 1}, False)
    assert (w.lease, w.shutdown_timeout, w.recover_interval) == (30.0, 10.0, 1.0)
    assert (w.archive_max_size, w.archive_max_age, w.idempotency_ttl) == (
        10000,
        90 * 86400.0,
        7 * 86400.0,
    )
    assert w.heartbeat_interval == 10.0
    sc = s.scheduler
    assert (sc.enabled, sc.sync_interval, sc.misfire_grace, sc.leader_lease) == (
        True,
        10.0,
        60.0,
        10.0,
    )
    assert (s.log.level, s.log.format, s.log.path, s.log.days) == ("info", "console", "", 7)
    assert s.feature.queue_dash is False and s.dashboard.enabled is True
    assert s.plugins == {} and s.schedules == []


def test_default_file_of_the_repository_loads() -> None:
    raw: dict[str, Any] = yaml.safe_load(DEFAULT_FILE.read_text())
    s = load_settings(DEFAULT_FILE, env={})
    assert s.server.key == raw["server"]["key"] and s.server.timezone == "UTC"
    assert s.redis.host == "127.0.0.1:6379" and s.redis.database == 0
    assert s.mysql is None and s.database_url() == "sqlite:///storage/bingo.db"
    assert s.log.path == "storage/log/scheduler.log" and s.log.console is True
    assert s.feature.queue_dash is False
    assert s.worker.queues == {"default": 1} and s.scheduler.sync_interval == 10.0
    assert s.schedules == []


def test_file_found_in_cwd_or_named_by_bingo_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config").mkdir()
    write(tmp_path / "config", "worker: {concurrency: 3}\n", "bingo-scheduler.yaml")
    other = write(tmp_path, "worker: {concurrency: 4}\n", "other.yaml")
    assert load_settings(None, env={}).worker.concurrency == 3
    assert load_settings(None, env={"BINGO_CONFIG": str(other)}).worker.concurrency == 4
    monkeypatch.setenv("BINGO_CONFIG", str(other))
    assert load_settings(None).worker.concurrency == 4  # env=None reads os.environ
    with pytest.raises(ConfigError) as info:
        load_settings(None, env={"BINGO_CONFIG": str(tmp_path / "nope.yaml")})
    assert (
        str(info.value)
        == f"config file {tmp_path / 'nope.yaml'} (from BINGO_CONFIG) does not exist"
    )


def test_missing_or_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path / "missing.yaml", env={})
    assert str(info.value) == f"config file {tmp_path / 'missing.yaml'} does not exist"
    with pytest.raises(ConfigError, match="is a directory"):
        load_settings(tmp_path, env={})


def test_empty_file_and_empty_sections_mean_defaults(tmp_path: Path) -> None:
    defaults = Settings().model_dump()
    assert load_settings(write(tmp_path, "# nothing\n"), env={}).model_dump() == defaults
    s = load_settings(write(tmp_path, "redis:\nmysql:\nworker:\nplugins:\nschedules:\n"), env={})
    assert s.model_dump() == defaults


def test_snake_case_keys_work_in_the_file(tmp_path: Path) -> None:
    s = load_settings(
        write(
            tmp_path,
            """\
        feature: {queue_dash: true}
        worker: {strict_priority: true, shutdown_timeout: 1m30s, archive_max_age: 2d}
        redis: {socket_timeout: 250ms}
    """,
        ),
        env={},
    )
    assert s.feature.queue_dash and s.worker.strict_priority
    assert (s.worker.shutdown_timeout, s.worker.archive_max_age) == (90.0, 172800.0)
    assert s.redis.socket_timeout == 0.25


def test_precedence_defaults_file_env_overrides(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        redis: {host: "file:6379", database: 2}
        worker: {concurrency: 5, lease: 20s}
        server: {timezone: Europe/Paris}
    """,
    )
    env = {
        "BINGO_REDIS__HOST": "10.0.0.5:6380",
        "BINGO_WORKER__CONCURRENCY": "50",
        "BINGO_SERVER__TIMEZONE": "Asia/Tokyo",
    }
    s = load_settings(path, env=env, overrides={"worker.concurrency": "70"})
    assert s.redis.host == "10.0.0.5:6380"  # env over file
    assert s.redis.database == 2  # file over default
    assert s.worker.concurrency == 70  # override over env
    assert s.worker.lease == 20.0
    assert s.server.timezone == "Asia/Tokyo"
    assert s.worker.shutdown_timeout == 10.0  # default


def test_env_keys_match_alias_or_name_in_any_case() -> None:
    env = {
        "BINGO_FEATURE__QUEUEDASH": "true",
        "BINGO_WORKER__STRICT_PRIORITY": "yes",
        "bingo_ignored__lowercase": "x",
        "BINGO_redis__Database": "3",
        "BINGO_WORKER__QUEUES__CRITICAL": "6",
        "BINGO_REDIS__SENTINEL__MASTERNAME": "main",
        "BINGO_REDIS__SENTINEL__HOSTS": "[10.0.0.1:26379, 10.0.0.2]",
        "BINGO_REDIS__PASSWORD": "123456",
        "BINGO_SERVER__KEY": "yes",
    }
    s = load_settings(None, env=env)
    assert s.feature.queue_dash is True and s.worker.strict_priority is True
    assert s.redis.database == 3
    assert s.worker.queues == {"default": 1, "critical": 6}
    assert s.redis.sentinel is not None
    assert s.redis.sentinel.master_name == "main"
    assert s.redis.sentinel.hosts == ["10.0.0.1:26379", "10.0.0.2:26379"]
    assert s.redis.address == "main via sentinel 10.0.0.1:26379,10.0.0.2:26379"
    assert s.redis.password == "123456" and s.server.key == "yes"  # strings stay strings


def test_other_bingo_variables_are_ignored() -> None:
    env = {"BINGO_CONFIG": "", "BINGO_PLUGINS": "a,b", "BINGO_TEST_HOOK_LOG": "/tmp/x"}
    assert load_settings(None, env=env) == load_settings(None, env={})


def test_env_can_add_the_mysql_section_and_database_url_wins() -> None:
    env = {
        "BINGO_MYSQL__HOST": "db.local",
        "BINGO_MYSQL__USERNAME": "app@x",
        "BINGO_MYSQL__PASSWORD": "p:w/d%",
        "BINGO_MYSQL__DATABASE": "bingo",
    }
    s = load_settings(None, env=env)
    assert s.database_url() == (
        "mysql+pymysql://app%40x:p%3Aw%2Fd%25@db.local:3306/bingo?charset=utf8mb4"
    )
    s = load_settings(None, env={**env, "BINGO_DATABASE__URL": "sqlite:////tmp/x.db"})
    assert s.database_url() == "sqlite:////tmp/x.db"


def test_redis_url_wins_for_the_address() -> None:
    s = load_settings(None, env={}, overrides={"redis.url": "rediss://u:secret@r.example:6380/2"})
    assert s.redis.address == "r.example:6380"
    assert "secret" not in s.redis.address


def test_overrides_accept_snake_case_and_free_form_keys() -> None:
    s = load_settings(
        None,
        env={},
        overrides={
            "worker.shutdown_timeout": "2s",
            "plugins.mail_notify.host": "smtp.local",
            "scheduler.historySize": "5",
        },
    )
    assert s.worker.shutdown_timeout == 2.0
    assert s.plugins == {"mail_notify": {"host": "smtp.local"}}
    assert s.scheduler.history_size == 5


def test_schedules_are_kept_as_mappings(tmp_path: Path) -> None:
    s = load_settings(
        write(
            tmp_path,
            """\
        schedules:
          - name: nightly
            spec: "0 2 * * *"
            type: task:daily-report
            payload: {date: today}
            queue: reports
          - spec: "@every 1h30m"
            type: task:ping
    """,
        ),
        env={},
    )
    assert s.schedules == [
        {
            "name": "nightly",
            "spec": "0 2 * * *",
            "type": "task:daily-report",
            "payload": {"date": "today"},
            "queue": "reports",
        },
        {"spec": "@every 1h30m", "type": "task:ping", "payload": {}},
    ]


def test_bad_schedules_items_are_kept_for_the_entries_to_report(tmp_path: Path) -> None:
    # Each item is checked when the entries are built, which skips a bad one by name.
    s = load_settings(
        write(
            tmp_path,
            """\
        schedules:
          - "0 2 * * * task:daily-report"
          - {name: listed, spec: "@daily", type: task:ping, payload: [1, 2]}
          - {name: 7, spec: 5}
          - null
    """,
        ),
        env={},
    )
    assert s.schedules == [
        "0 2 * * * task:daily-report",
        {"name": "listed", "spec": "@daily", "type": "task:ping", "payload": [1, 2]},
        {"name": 7, "spec": 5, "payload": {}},
        None,
    ]


def test_settings_from_env_reach_a_real_redis(redis_server: Any) -> None:
    from bingo_core.broker.connection import make_sync

    s = load_settings(None, env={"BINGO_REDIS__HOST": redis_server.address})
    client = make_sync(s.redis)
    try:
        assert client.ping() is True
    finally:
        client.close()


@pytest.mark.mysql
def test_mysql_section_url_reaches_a_real_server(mariadb_url: str) -> None:
    import pymysql
    from sqlalchemy import create_engine, make_url, text

    url = make_url(mariadb_url)
    user, password = f"bingo_cfg_{uuid.uuid4().hex[:6]}", "p@ss:w/rd%#?"
    hosts = ("%", "localhost", "127.0.0.1")
    root = pymysql.connect(host=url.host, port=url.port, user="root", password="")
    try:
        with root.cursor() as cur:
            for host in hosts:
                cur.execute("CREATE USER %s@%s IDENTIFIED BY %s", (user, host, password))
                cur.execute(f"GRANT ALL ON `{url.database}`.* TO %s@%s", (user, host))
        env = {
            "BINGO_MYSQL__HOST": f"{url.host}:{url.port}",
            "BINGO_MYSQL__USERNAME": user,
            "BINGO_MYSQL__PASSWORD": password,
            "BINGO_MYSQL__DATABASE": str(url.database),
        }
        engine = create_engine(load_settings(None, env=env).database_url())
        try:
            with engine.connect() as conn:
                row = conn.execute(text("SELECT DATABASE(), CURRENT_USER()")).one()
        finally:
            engine.dispose()
        assert row[0] == url.database and row[1].startswith(f"{user}@")
    finally:
        with root.cursor() as cur:
            for host in hosts:
                cur.execute("DROP USER IF EXISTS %s@%s", (user, host))
        root.close()

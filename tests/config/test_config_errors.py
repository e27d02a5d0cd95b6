"""Every bad config value gives one line naming the key, the value and what is expected."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bingo_core.config import load_settings
from bingo_core.errors import ConfigError, UsageError

REDIS_KEYS = (
    "host, password, username, database, prefix, url, sentinel, cluster, socketTimeout, "
    "connectTimeout, embedded"
)


@pytest.fixture(autouse=True)
def _no_config_in_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in an empty folder so no config/bingo-scheduler.yaml is picked up."""
    monkeypatch.chdir(tmp_path)


def error_for(
    path: Path | None = None,
    env: dict[str, str] | None = None,
    overrides: dict[str, str] | None = None,
) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(path, env=env or {}, overrides=overrides)
    message = str(info.value)
    assert "\n" not in message
    assert isinstance(info.value, UsageError)  # the CLI exits 2
    return message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "redis: {database: abc}",
            "config key redis.database: 'abc' is not valid: expected a whole number",
        ),
        (
            "redis: {hots: x}",
            f"config key redis.hots: unknown key (known: {REDIS_KEYS}); did you mean host?",
        ),
        (
            "server: {timezone: Mars/Olympus}",
            "config key server.timezone: 'Mars/Olympus' is not valid: "
            "expected an IANA time zone such as UTC or Asia/Shanghai",
        ),
        (
            "mysql: {host: 'db:3306', maxConnectionLifeTime: 10 seconds}",
            "config key mysql.maxConnectionLifeTime: '10 seconds' is not valid: "
            "expected a duration such as 10s, 1h30m, 250ms, 7d or seconds",
        ),
        (
            "worker: {lease: 0s}",
            "config key worker.lease: '0s' is not valid: expected a duration > 0",
        ),
        (
            "worker: {shutdownTimeout: -3}",
            "config key worker.shutdownTimeout: -3 is not valid: expected a duration >= 0",
        ),
        (
            "redis: {host: 'redis:port'}",
            "config key redis.host: 'redis:port' is not valid: expected host:port",
        ),
        (
            "redis: {host: 'redis:70000'}",
            "config key redis.host: 'redis:70000' is not valid: expected host:port",
        ),
        (
            "server: {addr: '8080'}",
            "config key server.addr: '8080' is not valid: expected [host]:port such as :8080",
        ),
        (
            "worker: {concurrency: 0}",
            "config key worker.concurrency: 0 is not valid: expected a number >= 1",
        ),
        (
            "worker: {concurrency: 2.5}",
            "config key worker.concurrency: 2.5 is not valid: expected a whole number",
        ),
        (
            "worker: {concurrency: true}",
            "config key worker.concurrency: True is not valid: expected a whole number",
        ),
        (
            "worker: {queues: {critical: 0}}",
            "config key worker.queues.critical: 0 is not valid: expected a number >= 1",
        ),
        (
            "worker: {queues: {}}",
            "config key worker.queues: {} is not valid: "
            "expected at least one queue name with a weight >= 1",
        ),
        (
            "feature: {queueDash: maybe}",
            "config key feature.queueDash: 'maybe' is not valid: expected true or false",
        ),
        (
            "log: {level: verbose}",
            "config key log.level: 'verbose' is not valid: expected one of 'debug', 'info', "
            "'warn', 'warning', 'error', 'dpanic', 'panic' or 'fatal'",
        ),
        (
            "log: {format: xml}",
            "config key log.format: 'xml' is not valid: expected one of 'console' or 'json'",
        ),
        (
            "redis: {url: 'http://r:6379'}",
            "config key redis.url: 'http://r:6379' is not valid: "
            "expected a redis://, rediss:// or unix:// URL",
        ),
        ("redis: [a, b]", "config key redis: ['a', 'b'] is not valid: expected a mapping"),
        (
            "redis: {sentinel: {hosts: ['a:1']}}",
            "config key redis.sentinel.masterName: required but not set",
        ),
        (
            "redis: {sentinel: {masterName: m, hosts: ['a:1', 'b:x']}}",
            "config key redis.sentinel.hosts[1]: 'b:x' is not valid: expected host:port",
        ),
        (
            "mysql: {username: root}",
            "config key mysql.host: '' is not valid: "
            "expected host:port of the MySQL server (or set database.url)",
        ),
        (
            "server: {key: s}\ndashboard: {readOnlyKey: s}",
            "config key dashboard.readOnlyKey: *** is not valid: "
            "expected a secret different from server.key",
        ),
        (
            "dashboard: {problems: {errorRate: 2}}",
            "config key dashboard.problems.errorRate: 2 is not valid: expected a number <= 1.0",
        ),
        (
            "dashboard: {problems: {minAttemps: 3}}",
            "config key dashboard.problems.minAttemps: unknown key (known: errorRate, "
            "minAttempts, backlog, throttled, missedWindow, workflowWindow); did you mean "
            "minAttempts?",
        ),
        # A bad schedules item is skipped by name when the entries are built; only a
        # schedules value that is not a list fails the load.
        (
            "schedules: '0 2 * * * task:x'",
            ("config key schedules: '0 2 * * * task:x' is not valid: expected a list"),
        ),
        ("plugins: {mail: 5}", "config key plugins.mail: 5 is not valid: expected a mapping"),
        (
            "reddis: {host: x}",
            "config key reddis: unknown key (known: server, redis, mysql, database, log, "
            "feature, worker, asynq, client, tracing, scheduler, dashboard, plugins, "
            "schedules); "
            "did you mean redis?",
        ),
        (
            "tracing: {enabled: maybe}",
            "config key tracing.enabled: 'maybe' is not valid: expected true or false",
        ),
        (
            "tracing: {enable: true}",
            "config key tracing.enable: unknown key (known: enabled); did you mean enabled?",
        ),
        (
            "redis: {socketTimeout: 1s, socket_timeout: 2s}",
            "config key redis.socketTimeout: given twice (as socketTimeout and socket_timeout)",
        ),
    ],
)
def test_bad_value_in_file(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bingo.yaml"
    path.write_text(text + "\n")
    assert error_for(path) == f"{expected} (in {path})"


def test_several_problems_are_counted_on_the_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bingo.yaml"
    path.write_text("redis: {database: x}\nworker: {concurrency: 0, lease: soon}\n")
    assert error_for(path) == (
        f"config key redis.database: 'x' is not valid: expected a whole number (in {path}) "
        "(2 more: worker.concurrency, worker.lease)"
    )


def test_bad_values_from_env_name_the_variable(tmp_path: Path) -> None:
    path = tmp_path / "bingo.yaml"
    path.write_text("redis: {database: 1}\n")
    assert error_for(path, env={"BINGO_REDIS__DATABASE": "abc"}) == (
        "config key redis.database: 'abc' is not valid: expected a whole number "
        "(from environment variable BINGO_REDIS__DATABASE)"
    )
    assert error_for(env={"BINGO_REDIS__HOTS": "x"}) == (
        f"config key redis.hots: unknown key (known: {REDIS_KEYS}); did you mean host? "
        "(from environment variable BINGO_REDIS__HOTS)"
    )
    assert error_for(env={"BINGO_WORKER__CONCURRENCY__MAX": "1"}) == (
        "config key worker.concurrency: is a single value, it has no keys below it "
        "(from environment variable BINGO_WORKER__CONCURRENCY__MAX)"
    )
    assert error_for(env={"BINGO_REDIS____HOST": "x"}) == (
        "environment variable BINGO_REDIS____HOST: expected BINGO_SECTION__KEY (one key per __)"
    )
    assert error_for(env={"BINGO_SERVER__TIMEZONE": "Nowhere"}).endswith(
        "(from environment variable BINGO_SERVER__TIMEZONE)"
    )


def test_bad_values_from_overrides_name_the_override() -> None:
    assert error_for(overrides={"worker.lease": "soon"}) == (
        "config key worker.lease: 'soon' is not valid: expected a duration such as 10s, "
        "1h30m, 250ms, 7d or seconds (from override worker.lease)"
    )
    assert error_for(overrides={"worker.": "1"}) == "override 'worker.': expected SECTION.KEY"
    assert error_for(overrides={"redis.sentinel.hosts": "[a:1]"}) == (
        "config key redis.sentinel.masterName: required but not set "
        "(from override redis.sentinel.hosts)"
    )


def test_yaml_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bingo.yaml"
    path.write_text(
        textwrap.dedent("""\
        server:
          addr: :8080
        redis:
          host: "127.0.0.1:6379
          database: 0
    """)
    )
    message = error_for(path)
    assert message.startswith(f"config file {path}: invalid YAML at line ")
    path.write_text("server:\n  addr: :8080\n   key: x\n")
    assert error_for(path) == (
        f"config file {path}: invalid YAML at line 3, column 7: mapping values are not allowed here"
    )


def test_duplicate_key_and_non_mapping_top(tmp_path: Path) -> None:
    path = tmp_path / "bingo.yaml"
    path.write_text("redis:\n  host: a:1\nlog: {}\nredis:\n  host: b:2\n")
    assert error_for(path) == (
        f"config file {path}: invalid YAML at line 4, column 1: "
        "key 'redis' appears twice (first on line 1)"
    )
    path.write_text("- server\n- redis\n")
    assert error_for(path) == (
        f"config file {path}: expected a mapping of sections (server, redis, ...) at the "
        "top, got list"
    )
    path.write_bytes(b"server: {name: \xff}\n")
    assert error_for(path) == f"config file {path} is not UTF-8 text"


def test_yaml_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "bingo.yaml"
    path.write_text(
        textwrap.dedent("""\
        plugins:
          daily_report: &common {hour: 2, lang: en}
          daily_stats:
            <<: *common
            hour: 3
    """)
    )
    s = load_settings(path, env={})
    assert s.plugins["daily_stats"] == {"hour": 3, "lang": "en"}

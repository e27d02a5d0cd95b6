"""Config problems as a user meets them through the real command line and daemon.

Secrets never appear in a config error; a bad ``schedules:`` item is skipped by name (the
config still loads, ``check`` reports it, the daemon logs it); a ``plugins.<name>`` section
for a plugin that is not installed is one warning.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bingo_core.app import App
from bingo_core.store import Store

BIN = str(Path(sys.executable).with_name("bingo-scheduler"))
SECRET = "s3cr3t-pw"
GOOD = {
    "name": "good",
    "spec": "0 2 * * *",
    "type": "test:record",
    "payload": {"path": "/tmp/out", "value": "v"},
}


def run(
    config: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BINGO_")}
    return subprocess.run(
        [BIN, "-c", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **(env or {})},
        cwd=config.parent,
    )


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: config key ")
    return lines[0]


# -- secrets --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("yaml", "expected"),
    [
        (
            f'redis:\n  url: "redis://:{SECRET}@cache:notaport/0"\n',
            "config key redis.url: 'redis://:***@cache:notaport/0' is not valid: "
            "expected a redis://, rediss:// or unix:// URL",
        ),
        (
            f'redis:\n  url: "http://admin:{SECRET}@cache:6379"\n',
            "config key redis.url: 'http://admin:***@cache:6379' is not valid",
        ),
        (
            f'redis:\n  url: "redis://cache:6379/0?password={SECRET}&x=1"\n  cluster: maybe\n',
            "config key redis.cluster: 'maybe' is not valid",
        ),
        (
            f"server:\n  key: [{SECRET}, other]\n",
            "config key server.key: *** is not valid: expected a string",
        ),
        (
            f"server:\n  key: {{value: {SECRET}}}\n",
            "config key server.key: *** is not valid: expected a string",
        ),
        (
            f"server:\n  key: {SECRET}\ndashboard:\n  readOnlyKey: {SECRET}\n",
            "config key dashboard.readOnlyKey: *** is not valid: "
            "expected a secret different from server.key",
        ),
        ("dashboard:\n  readOnlyKey: [a, b]\n", "config key dashboard.readOnlyKey: *** is not"),
        (
            f"mysql:\n  host: db:3306\n  password: [{SECRET}]\n",
            "config key mysql.password: *** is not valid: expected a string",
        ),
        (
            f"redis:\n  password: [{SECRET}]\n",
            "config key redis.password: *** is not valid: expected a string",
        ),
        (
            "redis:\n  sentinel:\n    masterName: m\n    hosts: ['a:1']\n"
            f"    password: [{SECRET}]\n",
            "config key redis.sentinel.password: *** is not valid",
        ),
        (
            f'database:\n  url: ["mysql+pymysql://root:{SECRET}@db/bingo"]\n',
            "config key database.url: ['mysql+pymysql://root:***@db/bingo'] is not valid",
        ),
        (
            f'redis: "redis://:{SECRET}@cache:6379/0"\n',
            "config key redis: 'redis://:***@cache:6379/0' is not valid: expected a mapping",
        ),
    ],
)
def test_config_errors_never_show_a_secret(tmp_path: Path, yaml: str, expected: str) -> None:
    config = tmp_path / "bingo.yaml"
    config.write_text(yaml)
    line = one_error_line(run(config, "plugins"))
    assert line.startswith(f"error: {expected}")
    assert SECRET not in line


def test_secrets_from_the_environment_and_overrides_are_masked(tmp_path: Path) -> None:
    config = tmp_path / "bingo.yaml"
    config.write_text("server:\n  timezone: UTC\n")
    env = {"BINGO_REDIS__URL": f"rediss://user:{SECRET}@cache:bad/0"}
    line = one_error_line(run(config, "plugins", env=env))
    assert line == (
        "error: config key redis.url: 'rediss://user:***@cache:bad/0' is not valid: expected "
        "a redis://, rediss:// or unix:// URL (from environment variable BINGO_REDIS__URL)"
    )
    override = f"redis.url=unix://:{SECRET}@"
    line = one_error_line(run(config, "--set", override, "plugins"))
    assert line == (
        "error: config key redis.url: 'unix://:***@' is not valid: expected a redis://, "
        "rediss:// or unix:// URL (from override redis.url)"
    )
    env = {"BINGO_SERVER__KEY": SECRET, "BINGO_DASHBOARD__READONLYKEY": SECRET}
    line = one_error_line(run(config, "plugins", env=env))
    assert line.startswith("error: config key dashboard.readOnlyKey: *** is not valid")


def test_a_plugin_password_is_masked(tmp_path: Path) -> None:
    config = tmp_path / "bingo.yaml"
    config.write_text(f"plugins:\n  mail_notify:\n    username: u\n    password: [{SECRET}]\n")
    line = one_error_line(run(config, "plugins", env={"BINGO_PLUGINS": "mail_notify"}))
    assert line == (
        f"error: config key plugins.mail_notify.password: *** is not valid: expected a string "
        f"(in {config})"
    )


# -- schedules items ------------------------------------------------------------------------


def write(tmp_path: Path, **sections: Any) -> Path:
    config = tmp_path / "bingo.yaml"
    config.write_text(json.dumps({"server": {"timezone": "UTC"}, **sections}))  # JSON is YAML
    return config


BAD_ITEMS: list[Any] = [
    GOOD,
    "0 2 * * * test:record",
    {"name": "list payload", "spec": "@hourly", "type": "test:record", "payload": [1, 2]},
    {"name": "text payload", "spec": "@hourly", "type": "test:record", "payload": "x"},
    {"spec": "@hourly"},
    {"name": "no spec", "type": "test:record"},
]
BAD_LINES = [
    "schedule 'schedules[1]' (config): expected a mapping with spec and type, got str",
    "schedule 'list payload' (config): payload: expected a mapping, got list",
    "schedule 'text payload' (config): payload: expected a mapping, got str",
    "schedule 'schedules[4]' (config): type: expected a non-empty string, got None",
    "schedule 'no spec' (config): spec: expected a non-empty string, got None",
]


def test_bad_schedules_items_do_not_stop_the_config_from_loading(tmp_path: Path) -> None:
    config = write(tmp_path, schedules=BAD_ITEMS)
    proc = run(config, "cron", "next", "0 2 * * *", "--after", "2026-05-01T00:00:00Z", "-n", "1")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "2026-05-01T02:00:00+00:00\n", "")


def test_check_reports_each_bad_schedules_item_by_name(
    tmp_path: Path, redis_url: str, sqlite_url: str
) -> None:
    with Store(sqlite_url) as store:
        store.init_schema()
    config = write(
        tmp_path,
        redis={"url": redis_url},
        database={"url": sqlite_url},
        log={"level": "warning", "path": ""},
        schedules=BAD_ITEMS,
    )
    proc = run(config, "check", env={"BINGO_PLUGINS": "testplug"})
    assert proc.returncode == 2, proc
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == [f"error: {line}" for line in BAD_LINES]
    data = json.loads(run(config, "check", "--json", env={"BINGO_PLUGINS": "testplug"}).stdout)
    assert data["summary"]["static_entries"] == 1  # the good one still compiles
    assert [p["message"] for p in data["problems"]] == BAD_LINES


# -- plugins.<name> for a plugin that is not installed --------------------------------------


class Records(logging.Handler):
    """Collects the records of one logger, whatever its propagation."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.getMessage()}")


@pytest.fixture
def config_log() -> Iterator[Records]:
    logger = logging.getLogger("bingo.config")
    handler = Records()
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def test_a_section_for_a_plugin_not_installed_is_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config_log: Records
) -> None:
    monkeypatch.setenv("BINGO_PLUGINS", "mail_notify")
    config = write(
        tmp_path,
        plugins={"mail_notify": {"host": "smtp.local"}, "mail-notfy": {"host": "x"}, "ghost": {}},
    )
    app = App(config=str(config))
    assert "task:mail-notify" in app.registry.tasks  # the same path the daemon and check take
    warnings = app.settings.warnings
    assert len(warnings) == 2
    assert warnings[0].startswith(
        "config key plugins.mail-notfy: no installed plugin is named 'mail-notfy' (installed: "
    )
    assert warnings[0].endswith("so this section is not used; did you mean mail_notify?")
    assert warnings[1].startswith("config key plugins.ghost: no installed plugin is named 'ghost'")
    assert config_log.lines == [f"WARNING {line}" for line in warnings]
    assert app.settings.plugin_settings["ghost"] == {}  # kept, as a section without a model


def test_no_warning_for_installed_plugins_with_or_without_a_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config_log: Records
) -> None:
    monkeypatch.setenv("BINGO_PLUGINS", "mail_notify")
    # daily_report is installed but not loaded here (not in BINGO_PLUGINS): no warning.
    config = write(tmp_path, plugins={"mail_notify": {}, "daily_report": {"hour": 3}})
    app = App(config=str(config))
    assert app.registry is not None
    assert app.settings.warnings == [] and config_log.lines == []


def test_the_daemon_logs_the_warning_and_the_bad_schedules_items(
    tmp_path: Path, redis_url: str
) -> None:
    from daemon_helpers import Daemon

    config = write(
        tmp_path,
        redis={"url": redis_url},
        database={"url": f"sqlite:///{tmp_path / 'bingo.db'}"},
        log={"level": "info", "console": True, "path": ""},
        scheduler={"syncInterval": "1s"},
        plugins={"ghost": {"password": SECRET}},
        schedules=BAD_ITEMS,
    )
    daemon = Daemon(config, "--no-worker", env={"BINGO_PLUGINS": "testplug"})
    try:
        daemon.wait_for("bingo-scheduler started")
        daemon.wait_for("schedule 'no spec' (config)")
        assert daemon.stop() == 0
    finally:
        daemon.close()
    log = daemon.log
    assert "config key plugins.ghost: no installed plugin is named 'ghost'" in log
    for line in BAD_LINES:
        assert line in log
    assert SECRET not in log and "Traceback" not in log

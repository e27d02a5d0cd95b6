"""The plugin packages as a user installs them: found through their real entry points.

Needs the packages installed into the environment (``pip install -e`` of ``plugins/*`` and
``tests/plugins_pkgs/*``; see ``.ci/run``).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import redis
from daemon_helpers import Daemon, cli, write_config

import bingo_core as bingo
from bingo_core.errors import PayloadError
from bingo_core.plugins import PluginManager, load_plugins
from bingo_core.registry import Registry

FIRST_PARTY = {
    "daily_report": ("bingo-plugin-daily-report", ["task:daily-report"]),
    "daily_stats": ("bingo-plugin-daily-stats", ["task:daily-stats"]),
    "mail_notify": (
        "bingo-plugin-mail-notify",
        ["task:mail-notify", "task:mail-alert", "task:mail-alert-window"],
    ),
}
TEST_TYPES = [
    "test:record",
    "test:sleep",
    "test:sync-sleep",
    "test:fail",
    "test:skip",
    "test:idempotent",
    "test:typed",
    "test:isolated",
    "test:redis-record",
    "test:batch-record",
]


def canonical(name: str) -> str:
    return name.lower().replace("_", "-")


@pytest.fixture
def loaded(monkeypatch: pytest.MonkeyPatch) -> tuple[PluginManager, Registry]:
    """Every installed plugin, loaded through the ``bingo.plugins`` entry points."""
    monkeypatch.delenv("BINGO_PLUGINS", raising=False)
    return load_plugins()


def test_entry_points_are_installed() -> None:
    names = {ep.name: ep.value for ep in metadata.entry_points(group="bingo.plugins")}
    assert names.get("daily_report") == "bingo_plugin_daily_report"
    assert names.get("daily_stats") == "bingo_plugin_daily_stats"
    assert names.get("mail_notify") == "bingo_plugin_mail_notify"
    assert names.get("testplug") == "bingo_test_plugin"
    assert names.get("broken_import") == "bingo_broken_plugin"
    assert names.get("broken_register") == "bingo_broken_register"


def test_first_party_plugins_load_with_their_task_types(
    loaded: tuple[PluginManager, Registry],
) -> None:
    manager, registry = loaded
    for plugin, (distribution, types) in FIRST_PARTY.items():
        info = manager.infos[plugin]
        assert info.error == ""
        assert canonical(info.distribution) == distribution
        assert info.version == metadata.version(distribution)
        assert info.task_types == types
        for name in types:
            assert registry.tasks[name].plugin == plugin
        assert plugin in registry.settings_models
    report = registry.tasks["task:daily-report"]
    assert report.payload_model is not None
    assert report.payload_model.__name__ == "ReportPayload"
    assert report.option("max_retry") == 5
    assert report.option("timeout") == 30.0
    assert report.is_async
    assert not registry.tasks["task:daily-stats"].is_async
    assert not registry.tasks["task:mail-notify"].is_async


def test_daily_report_schedule_is_registered(loaded: tuple[PluginManager, Registry]) -> None:
    _, registry = loaded
    entries = [s for s in registry.schedules if s.source == "plugin:daily_report"]
    assert [(e.spec, e.type, e.payload) for e in entries] == [
        ("0 2 * * *", "task:daily-report", {"date": "today"})
    ]
    assert not [s for s in registry.schedules if s.source == "plugin:daily_stats"]


def test_test_plugin_loads_with_every_test_type(loaded: tuple[PluginManager, Registry]) -> None:
    manager, registry = loaded
    assert manager.infos["testplug"].error == ""
    assert manager.infos["testplug"].task_types == TEST_TYPES
    assert {n for n, t in registry.tasks.items() if t.plugin == "testplug"} == set(TEST_TYPES)
    assert registry.tasks["test:fail"].option("max_retry") == 2
    assert registry.tasks["test:idempotent"].option("idempotent") is True
    assert registry.tasks["test:isolated"].option("isolation") == "process"
    assert not registry.tasks["test:sync-sleep"].is_async
    assert "bingo_task_failed" in manager.infos["testplug"].hooks


def test_broken_plugins_are_reported_by_name_and_the_rest_load(
    loaded: tuple[PluginManager, Registry],
) -> None:
    manager, registry = loaded
    reasons = {f.plugin: f.reason for f in manager.failures}
    assert set(reasons) == {"broken_import", "broken_register"}
    assert "ImportError: missing dependency: nonexistent_lib" in reasons["broken_import"]
    assert "bingo_register_tasks" in reasons["broken_register"]
    assert "ValueError: bad registration" in reasons["broken_register"]
    assert manager.infos["broken_import"].error == reasons["broken_import"]
    # What the broken plugin registered before failing is dropped with it.
    assert "broken:half-registered" not in registry.tasks
    assert not [t for t in registry.tasks.values() if t.plugin.startswith("broken")]
    assert {"task:daily-report", "task:mail-notify", "test:record"} <= set(registry.tasks)


def test_allow_list_loads_only_the_named_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BINGO_PLUGINS", "daily_report, testplug")
    manager, registry = load_plugins()
    assert manager.failures == []
    plugins = {t.plugin for t in registry.tasks.values()} - {"bingo.builtin"}
    assert plugins == {"daily_report", "testplug"}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"date": 5}, r"ReportPayload: date: Input should be a valid string"),
        ({"date": "2026-13-01"}, r"ReportPayload: date: Value error, expected 'today'"),
        ('{"date": "next week"}', r"ReportPayload: date: Value error, expected 'today'"),
    ],
)
def test_registry_refuses_a_bad_daily_report_payload(
    loaded: tuple[PluginManager, Registry], payload: Any, expected: str
) -> None:
    _, registry = loaded
    with pytest.raises(PayloadError, match=rf"^payload for task:daily-report .*{expected}"):
        registry.get("task:daily-report").validate_payload(payload)
    assert registry.get("task:daily-report").validate_payload({}).date == "today"


def test_client_refuses_a_bad_payload_before_writing_to_redis(
    loaded: tuple[PluginManager, Registry], redis_url: str, redis_client: redis.Redis
) -> None:
    _, registry = loaded
    client = bingo.Client(redis_url=redis_url, registry=registry)
    try:
        with pytest.raises(PayloadError, match="date"):
            client.enqueue("task:daily-report", {"date": "someday"})
        assert redis_client.keys("*") == []
        info = client.enqueue("task:daily-report", {"date": "yesterday"})
    finally:
        client.broker.close()
    assert info.id
    assert redis_client.keys("*") != []


# The test plugin's handlers, run directly: the end-to-end tests rely on what they record.


def run(registry: Registry, name: str, payload: dict[str, Any], ctx: Any = None) -> None:
    task_type = registry.get(name)
    ctx = ctx or bingo.TaskContext("t1", name, "default", 0, task_type.option("max_retry"))
    value = task_type.validate_payload(payload)
    if task_type.is_async:
        asyncio.run(task_type.handler(ctx, value))
    else:
        task_type.handler(ctx, value)


@pytest.fixture
def registry(loaded: tuple[PluginManager, Registry]) -> Registry:
    return loaded[1]


def test_record_and_typed_append_lines(registry: Registry, tmp_path: Path) -> None:
    path = str(tmp_path / "out" / "log")
    run(registry, "test:record", {"path": path, "value": "a"})
    run(registry, "test:typed", {"path": path, "name": "n", "count": "7"})
    assert Path(path).read_text() == "a\nn:7\n"
    with pytest.raises(PayloadError, match="count: Input should be a valid integer"):
        run(registry, "test:typed", {"path": path, "name": "n", "count": "many"})


def test_fail_raises_until_it_was_attempted_fail_times(registry: Registry, tmp_path: Path) -> None:
    path = str(tmp_path / "fail")
    payload = {"path": path, "value": "try", "fail_times": 2}
    for attempt in (1, 2):
        with pytest.raises(RuntimeError, match=f"planned failure {attempt} of 2"):
            run(registry, "test:fail", payload)
    run(registry, "test:fail", payload)
    assert Path(path).read_text() == "try\ntry\ntry\n"


def test_skip_records_then_raises_skip_retry(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "skip"
    with pytest.raises(bingo.SkipRetry, match="no point"):
        run(registry, "test:skip", {"path": str(path), "value": "once"})
    assert path.read_text() == "once\n"


def test_sync_sleep_stops_when_cancelled(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "sync"
    ctx = bingo.TaskContext("t9", "test:sync-sleep", "default", 0, 3)
    errors: list[BaseException] = []

    def target() -> None:
        try:
            run(registry, "test:sync-sleep", {"path": str(path), "seconds": 30, "value": "v"}, ctx)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    ctx.cancel()
    thread.join(5)
    assert not thread.is_alive()
    assert path.read_text() == "cancelled:v\n"
    assert [type(e).__name__ for e in errors] == ["TaskTimeout"]


def test_redis_record_pushes_to_the_given_redis(
    registry: Registry, redis_url: str, redis_client: redis.Redis
) -> None:
    run(registry, "test:redis-record", {"url": redis_url, "key": "seen", "value": "x"})
    run(registry, "test:redis-record", {"url": redis_url, "key": "seen", "value": "y"})
    assert redis_client.lrange("seen", 0, -1) == ["x", "y"]


@pytest.fixture
def hook_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "hooks"
    monkeypatch.setenv("BINGO_TEST_HOOK_LOG", str(path))
    yield path


def test_lifecycle_hooks_record_when_asked(
    loaded: tuple[PluginManager, Registry], hook_log: Path
) -> None:
    manager, _ = loaded
    ctx = bingo.TaskContext("t5", "test:record", "default", 0, 3)
    manager.hook.bingo_task_started(ctx=ctx)
    manager.hook.bingo_task_failed(ctx=ctx, error=RuntimeError("x"), retrying=True)
    manager.hook.bingo_task_succeeded(ctx=ctx)
    assert hook_log.read_text().splitlines() == [
        "started test:record t5",
        "failed test:record t5 retrying=True RuntimeError",
        "succeeded test:record t5",
    ]


# The installed plugins from the command line and in a real daemon.


def test_plugins_output_and_config_errors_never_show_the_smtp_password(
    tmp_path: Path, redis_url: str
) -> None:
    secret = "hunter2-smtp-Secret"
    good = write_config(
        tmp_path / "good.yaml",
        redis_url,
        plugins={"mail_notify": {"username": "bingo", "password": secret}},
    )
    for args in (["plugins"], ["plugins", "--json"]):
        shown = cli(good, *args)
        assert "task:mail-notify" in shown.stdout
        assert secret not in shown.stdout + shown.stderr
    bad = write_config(
        tmp_path / "bad.yaml", redis_url, plugins={"mail_notify": {"password": secret}}
    )
    refused = cli(bad, "plugins", check=False)
    assert refused.returncode != 0
    assert "plugins.mail_notify" in refused.stderr
    assert "give both username and password" in refused.stderr
    assert secret not in refused.stdout + refused.stderr


@pytest.mark.slow
@pytest.mark.parallel_safe
def test_the_original_readme_row_runs_daily_stats_in_a_daemon(
    tmp_path: Path, redis_url: str
) -> None:
    """``cron add ... --payload '{"date":"today"}'``, as the original README has it: a
    daemon syncs the row, fires it and the task writes sys_task_stats rows."""
    config = write_config(
        tmp_path / "bingo.yaml",
        redis_url,
        scheduler={"enabled": True, "syncInterval": "1s", "leaderLease": "1s"},
    )
    cli(config, "db", "init")
    row = ["daily-stats", "task:daily-stats", "@every 1s", "--payload", '{"date":"today"}']
    cli(config, "cron", "add", *row)
    daemon = Daemon(config, "--no-dashboard")
    rows: list[tuple[Any, ...]] = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not rows:
            time.sleep(0.3)
            with sqlite3.connect(tmp_path / "bingo.db") as db:
                if db.execute(
                    "SELECT 1 FROM sqlite_master WHERE name = 'sys_task_stats'"
                ).fetchone():
                    rows = db.execute(
                        "SELECT date, queue, type, processed FROM sys_task_stats "
                        "WHERE type = 'task:daily-stats'"
                    ).fetchall()
        assert daemon.stop() == 0
    finally:
        daemon.close()
    assert rows, daemon.log
    [(day, queue, task_type, processed)] = rows
    assert day <= datetime.now(UTC).date().isoformat()
    assert (queue, task_type) == ("default", "task:daily-stats")
    assert processed >= 1

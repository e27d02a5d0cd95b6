"""The sys_crontab sync on a real SQLite file and on real MariaDB."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pymysql
import pytest
from daemon_helpers import TcpProxy
from pydantic import BaseModel

from bingo_core.registry import Registry, TaskRegister
from bingo_core.scheduler.entries import CompiledEntry
from bingo_core.scheduler.sync import CrontabSync, EntryTarget
from bingo_core.scheduler.trouble import StoreTrouble
from bingo_core.store import Store

SEED_INSERT = """
INSERT INTO `sys_crontab`
(`name`, `type`, `spec`, `payload`, `status`)
VALUES
('Daily Statistics', 'task:daily-stats', '0 1 * * *', '{"date":"today"}', 1);
"""


class StatsPayload(BaseModel):
    date: str = "today"
    limit: int = 10


async def handle_stats(ctx: Any, payload: StatsPayload) -> None:
    """Not run here."""


def handle_ping(ctx: Any, payload: dict[str, Any]) -> None:
    """Not run here."""


def make_registry() -> Registry:
    registry = Registry()
    register = TaskRegister(registry, "test")
    register("task:daily-stats", handle_stats, payload=StatsPayload)
    register("task:ping", handle_ping)
    return registry


class RecordingTarget:
    """An EntryTarget that keeps what it was told, like the scheduler would."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], list[str], list[str]]] = []
        self.entries: dict[str, CompiledEntry] = {}

    def apply(
        self, added: list[CompiledEntry], changed: list[CompiledEntry], removed: list[str]
    ) -> None:
        self.calls.append(([c.key for c in added], [c.key for c in changed], list(removed)))
        for key in removed:
            del self.entries[key]
        for compiled in added:
            assert compiled.key not in self.entries
            self.entries[compiled.key] = compiled
        for compiled in changed:
            assert compiled.key in self.entries
            self.entries[compiled.key] = compiled

    def by_source(self) -> dict[str, CompiledEntry]:
        return {c.entry.source: c for c in self.entries.values()}


class RawDB:
    """Plain SQL through the DB driver itself (sqlite3 / PyMySQL), bypassing the Store."""

    def __init__(self, url: str) -> None:
        parsed = urlsplit(url)
        self.sqlite = parsed.scheme == "sqlite"
        self.conn: Any
        if self.sqlite:
            self.conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        else:
            self.conn = pymysql.connect(
                host=parsed.hostname,
                port=parsed.port or 3306,
                user=parsed.username,
                password=parsed.password or "",
                database=parsed.path.lstrip("/"),
                autocommit=True,
                charset="utf8mb4",
            )

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        """Run one statement; return the last inserted id."""
        if self.sqlite:
            return int(self.conn.execute(sql.replace("%s", "?"), params).lastrowid or 0)
        with self.conn.cursor() as cur:
            cur.execute(sql, params or None)
            return int(cur.lastrowid or 0)

    def insert(self, name: str, type_: str, spec: str, payload: str | None, status: int = 1) -> int:
        return self.execute(
            "INSERT INTO sys_crontab (name, type, spec, payload, status) VALUES (%s,%s,%s,%s,%s)",
            (name, type_, spec, payload, status),
        )

    def close(self) -> None:
        self.conn.close()


@pytest.fixture(params=["sqlite", "mariadb"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bingo.db'}"
    url: str = request.getfixturevalue("mariadb_url")
    raw = RawDB(url)
    raw.execute("DROP TABLE IF EXISTS sys_crontab")
    raw.close()
    return url


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with Store(db_url) as opened:
        opened.init_schema()
        yield opened


@pytest.fixture
def raw(store: Store, db_url: str) -> Iterator[RawDB]:
    conn = RawDB(db_url)
    yield conn
    conn.close()


@pytest.fixture
def target() -> RecordingTarget:
    return RecordingTarget()


def make_sync(
    store: Store,
    target: EntryTarget,
    registry: Registry | None = None,
    *,
    full_read_every: float = 300.0,
) -> CrontabSync:
    return CrontabSync(
        store,
        registry or make_registry(),
        target,
        default_tz="Asia/Shanghai",
        interval=60,
        full_read_every=full_read_every,
    )


def sync_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "bingo.sync"]


def test_seed_insert_is_picked_up(store: Store, raw: RawDB, target: RecordingTarget) -> None:
    sync = make_sync(store, target)
    assert sync.sync_once().changes == 0
    assert target.calls == []

    row_id = raw.execute(SEED_INSERT)
    result = sync.sync_once()
    assert result.db_ok and result.errors == {}
    assert len(result.added) == 1 and result.changed == result.removed == []
    compiled = target.by_source()[f"db:{row_id}"]
    assert result.added == [compiled.key]
    assert compiled.entry.name == "Daily Statistics"
    assert compiled.entry.type == "task:daily-stats"
    assert compiled.entry.spec == "0 1 * * *"
    assert compiled.entry.payload == {"date": "today"}

    again = sync.sync_once()
    assert again.changes == 0
    assert len(target.calls) == 1  # nothing to apply: the target is not called
    status = sync.status()
    assert (status["rows"], status["active"], status["db_ok"], status["errors"]) == (
        1,
        1,
        True,
        {},
    )
    assert status["last_sync"] is not None and status["duration"] >= 0


def test_edit_disable_enable_delete(store: Store, raw: RawDB, target: RecordingTarget) -> None:
    sync = make_sync(store, target)
    keep = raw.insert("keep", "task:ping", "@every 1h", "null")  # JSON null: no payload
    row = raw.insert("daily", "task:daily-stats", "0 1 * * *", '{"date": "today"}')
    sync.sync_once()
    assert set(target.by_source()) == {f"db:{keep}", f"db:{row}"}
    key = target.by_source()[f"db:{row}"].key

    raw.execute("UPDATE sys_crontab SET spec = '30 2 * * *' WHERE id = %s", (row,))
    result = sync.sync_once()
    assert (result.added, result.changed, result.removed) == ([], [key], [])
    assert target.entries[key].entry.spec == "30 2 * * *"

    raw.execute("UPDATE sys_crontab SET payload = %s WHERE id = %s", ('{"limit": 3}', row))
    assert sync.sync_once().changed == [key]
    assert target.entries[key].entry.payload == {"limit": 3}

    raw.execute("UPDATE sys_crontab SET status = 0 WHERE id = %s", (row,))
    result = sync.sync_once()
    assert (result.added, result.changed, result.removed) == ([], [], [key])
    assert set(target.by_source()) == {f"db:{keep}"}
    assert sync.status()["active"] == 1 and sync.status()["rows"] == 2

    raw.execute("UPDATE sys_crontab SET status = 1 WHERE id = %s", (row,))
    assert sync.sync_once().added == [key]

    raw.execute("UPDATE sys_crontab SET name = 'renamed' WHERE id = %s", (row,))
    result = sync.sync_once()
    assert target.by_source()[f"db:{row}"].entry.name == "renamed"
    assert len(target.entries) == 2
    assert result.changes >= 1

    raw.execute("DELETE FROM sys_crontab WHERE id = %s", (row,))
    result = sync.sync_once()
    assert result.removed == [target.calls[-1][2][0]] and result.added == []
    assert set(target.by_source()) == {f"db:{keep}"}
    assert sync.status()["rows"] == 1


def test_bad_rows_are_skipped_and_reported_once(
    store: Store, raw: RawDB, target: RecordingTarget, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bingo.sync")
    sync = make_sync(store, target)
    good = raw.insert("good", "task:daily-stats", "0 1 * * *", '{"date": "2024-01-01"}')
    bad = {
        raw.insert("bad spec", "task:daily-stats", "61 * * * *", None): "61",
        raw.insert("no such type", "task:nope", "@daily", None): "task:nope",
        raw.insert("not json", "task:daily-stats", "@daily", "{date: today}"): "JSON",
        raw.insert("a list", "task:ping", "@daily", "[1, 2]"): "object",
        raw.insert("wrong field", "task:daily-stats", "@daily", '{"limit": "many"}'): "limit",
    }
    disabled_bad = raw.insert("disabled", "task:nope", "@daily", "nope", status=0)
    result = sync.sync_once()

    assert set(target.by_source()) == {f"db:{good}"}
    assert set(result.errors) == set(bad) == set(sync.row_errors)
    for row_id, needle in bad.items():
        assert needle in sync.row_errors[row_id]
    assert disabled_bad not in sync.row_errors
    logged = sync_messages(caplog)
    for row_id in bad:
        name = next(r["name"] for r in sync.row_states() if r["id"] == row_id)
        [line] = [m for m in logged if f"row {row_id} " in m]
        assert repr(name) in line and sync.row_errors[row_id] in line
    states = {r["id"]: r["state"] for r in sync.row_states()}
    assert states[good] == "active" and states[disabled_bad] == "disabled"
    assert all(states[row_id] == "error" for row_id in bad)

    # Unchanged bad rows are neither validated nor logged again.
    caplog.clear()
    assert sync.sync_once().changes == 0
    assert sync_messages(caplog) == []
    assert set(sync.row_errors) == set(bad)

    # A fixed row starts and its error goes away; a good row turned bad stops.
    fixed = next(iter(bad))
    raw.execute("UPDATE sys_crontab SET spec = '0 3 * * *' WHERE id = %s", (fixed,))
    raw.execute("UPDATE sys_crontab SET type = 'task:gone' WHERE id = %s", (good,))
    caplog.clear()
    result = sync.sync_once()
    assert set(target.by_source()) == {f"db:{fixed}"}
    assert fixed not in sync.row_errors
    assert "task:gone" in sync.row_errors[good]
    assert len(result.removed) == 1 and len(result.added) == 1
    assert any(f"row {good} skipped: schedule 'good'" in m for m in sync_messages(caplog))
    assert any(f"row {fixed} " in m and "valid again" in m for m in sync_messages(caplog))


def test_unchanged_rows_are_not_validated_again(
    store: Store, raw: RawDB, target: RecordingTarget
) -> None:
    registry = make_registry()
    sync = make_sync(store, target, registry)
    first = raw.insert("a", "task:ping", "@hourly", None)
    sync.sync_once()
    # Were the row validated again, its type would now be unknown and the entry removed.
    del registry.tasks["task:ping"]
    assert sync.sync_once().changes == 0
    assert set(target.by_source()) == {f"db:{first}"}
    raw.execute("UPDATE sys_crontab SET spec = '@daily' WHERE id = %s", (first,))
    assert len(sync.sync_once().removed) == 1
    assert target.entries == {}
    assert "task:ping" in sync.row_errors[first]


def test_rejecting_target_gets_the_same_differences_again(store: Store, raw: RawDB) -> None:
    class Flaky(RecordingTarget):
        fail = True

        def apply(
            self, added: list[CompiledEntry], changed: list[CompiledEntry], removed: list[str]
        ) -> None:
            if self.fail:
                raise RuntimeError("scheduler busy")
            super().apply(added, changed, removed)

    flaky = Flaky()
    sync = make_sync(store, flaky)
    row = raw.insert("a", "task:ping", "@hourly", None)
    with pytest.raises(RuntimeError):
        sync.sync_once()
    flaky.fail = False
    assert len(sync.sync_once().added) == 1
    assert set(flaky.by_source()) == {f"db:{row}"}


def test_sqlite_table_gone_keeps_the_last_good_set(
    tmp_path: Path, target: RecordingTarget, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bingo.sync")
    url = f"sqlite:///{tmp_path / 'bingo.db'}"
    with Store(url) as store:
        store.init_schema()
        raw = RawDB(url)
        try:
            row = raw.insert("a", "task:ping", "@hourly", None)
            sync = make_sync(store, target)
            sync.sync_once()
            raw.execute("ALTER TABLE sys_crontab RENAME TO sys_crontab_moved")
            assert_outage_and_recovery(sync, target, caplog, row)
            raw.execute("ALTER TABLE sys_crontab_moved RENAME TO sys_crontab")
            assert_recovered(sync, target, caplog, raw, row)
        finally:
            raw.close()


def test_mariadb_down_keeps_the_last_good_set(
    mariadb_url: str, target: RecordingTarget, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bingo.sync")
    direct = urlsplit(mariadb_url)
    proxy = TcpProxy(direct.port or 3306)
    proxy.start()
    raw = RawDB(mariadb_url)
    try:
        raw.execute("DROP TABLE IF EXISTS sys_crontab")
        via_proxy = direct._replace(netloc=f"root:@127.0.0.1:{proxy.port}").geturl()
        with Store(via_proxy) as store:
            store.init_schema()
            row = raw.insert("a", "task:ping", "@hourly", None)
            sync = make_sync(store, target)
            sync.sync_once()
            proxy.stop()
            assert_outage_and_recovery(sync, target, caplog, row)
            assert "Connection refused" in sync.status()["db_error"]
            proxy.start()  # same port again
            assert_recovered(sync, target, caplog, raw, row)
    finally:
        proxy.stop()
        raw.close()


def assert_outage_and_recovery(
    sync: CrontabSync, target: RecordingTarget, caplog: pytest.LogCaptureFixture, row: int
) -> None:
    before = dict(target.entries)
    caplog.clear()
    for _ in range(3):
        result = sync.sync_once()
        assert result.db_ok is False and result.changes == 0
    assert target.entries == before and set(target.by_source()) == {f"db:{row}"}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "keeping the last 1 dynamic entries running" in warnings[0].getMessage()
    status = sync.status()
    assert status["db_ok"] is False and status["active"] == 1 and status["db_error"]


def assert_recovered(
    sync: CrontabSync,
    target: RecordingTarget,
    caplog: pytest.LogCaptureFixture,
    raw: RawDB,
    row: int,
) -> None:
    caplog.clear()
    second = raw.insert("b", "task:ping", "@daily", None)
    result = sync.sync_once()
    assert result.db_ok is True
    assert set(target.by_source()) == {f"db:{row}", f"db:{second}"}
    assert sum("database reachable again" in m for m in sync_messages(caplog)) == 1
    assert sync.status()["db_ok"] is True and sync.status()["db_error"] is None


def test_loop_runs_at_start_and_on_trigger(store: Store, raw: RawDB) -> None:
    target = RecordingTarget()
    sync = make_sync(store, target)  # interval 60 s: only trigger() can cause round two
    first = raw.insert("a", "task:ping", "@hourly", None)

    async def scenario() -> int:
        sync.start()
        await wait_for(lambda: len(target.entries) == 1)
        second = raw.insert("b", "task:ping", "@daily", None)
        # Called from another thread, as a signal handler may be.
        threading.Thread(target=sync.trigger).start()
        await wait_for(lambda: f"db:{second}" in target.by_source())
        await sync.stop()
        return second

    second = asyncio.run(asyncio.wait_for(scenario(), timeout=10))
    assert set(target.by_source()) == {f"db:{first}", f"db:{second}"}
    assert sync.status()["rounds"] == 2


def test_loop_round_without_a_change_reads_no_row(store: Store, raw: RawDB) -> None:
    target = RecordingTarget()
    sync = make_sync(store, target)
    raw.insert("a", "task:ping", "@hourly", None)

    async def scenario() -> None:
        sync.start()
        await wait_for(lambda: sync.status()["rounds"] == 1)
        sync.trigger()
        await wait_for(lambda: sync.status()["rounds"] == 2)
        await sync.stop()

    asyncio.run(asyncio.wait_for(scenario(), timeout=10))
    assert (sync.status()["rounds"], sync.status()["full_reads"]) == (2, 1)
    assert len(target.entries) == 1


def test_unchanged_table_is_not_read_again(
    store: Store, raw: RawDB, target: RecordingTarget
) -> None:
    sync = make_sync(store, target)
    rows = [raw.insert(f"r{i}", "task:ping", "@hourly", None) for i in range(5)]
    assert sync.sync_once().full_read is True
    quiet = sync.sync_once()
    assert (quiet.full_read, quiet.changes, quiet.db_ok) == (False, 0, True)
    status = sync.status()
    assert (status["rounds"], status["full_reads"], status["active"]) == (2, 1, 5)

    def key(row_id: int) -> str:
        return target.by_source()[f"db:{row_id}"].key

    def round_after(sql: str, *params: Any) -> tuple[list[str], list[str], list[str]]:
        raw.execute(sql, params)
        result = sync.sync_once()
        assert result.full_read is True, sql
        assert sync.sync_once().full_read is False, sql  # and quiet again after it
        return result.added, result.changed, result.removed

    one, two, three, four, five = rows
    old = key(one)
    added, _, removed = round_after("UPDATE sys_crontab SET name = 'renamed' WHERE id = %s", one)
    assert (added, removed) == ([key(one)], [old]) and key(one) != old
    upd = "UPDATE sys_crontab SET {} = %s WHERE id = %s"
    assert round_after(upd.format("type"), "task:daily-stats", two) == ([], [key(two)], [])
    assert target.entries[key(two)].entry.type == "task:daily-stats"
    assert round_after(upd.format("spec"), "@daily", three) == ([], [key(three)], [])
    assert target.entries[key(three)].entry.spec == "@daily"
    assert round_after(upd.format("payload"), '{"n": 1}', four) == ([], [key(four)], [])
    assert target.entries[key(four)].entry.payload == {"n": 1}
    assert round_after(upd.format("payload"), None, four) == ([], [key(four)], [])
    assert target.entries[key(four)].entry.payload == {}
    old = key(five)
    assert round_after(upd.format("status"), 0, five) == ([], [], [old])
    assert round_after(upd.format("status"), 1, five) == ([old], [], [])
    # Two rows disabled in one statement (the same edit at the end of both rows).
    keys = {key(four), key(five)}
    _, _, removed = round_after(
        "UPDATE sys_crontab SET status = 0 WHERE id IN (%s, %s)", four, five
    )
    assert set(removed) == keys
    added, _, _ = round_after(
        "INSERT INTO sys_crontab (name, type, spec) VALUES ('new', 'task:ping', '@daily')"
    )
    assert [target.entries[k].entry.name for k in added] == ["new"]
    gone = key(three)
    assert round_after("DELETE FROM sys_crontab WHERE id = %s", three) == ([], [], [gone])

    # A write through the sync's own Store is seen as well.
    store.update(two, spec="@weekly")
    result = sync.sync_once()
    assert (result.full_read, result.changed) == (True, [key(two)])
    assert target.entries[key(two)].entry.spec == "@weekly"


def test_every_row_is_read_again_after_full_read_every(
    store: Store, raw: RawDB, target: RecordingTarget
) -> None:
    raw.insert("a", "task:ping", "@hourly", None)
    sync = make_sync(store, target, full_read_every=0.3)
    assert [sync.sync_once().full_read for _ in range(2)] == [True, False]
    time.sleep(0.35)
    assert [sync.sync_once().full_read for _ in range(2)] == [True, False]
    assert sync.status()["full_reads"] == 2

    always = make_sync(store, RecordingTarget(), full_read_every=0)
    assert [always.sync_once().full_read for _ in range(3)] == [True, True, True]
    assert always.status()["full_reads"] == 3


async def wait_for(condition: Any) -> None:
    while not condition():
        await asyncio.sleep(0.01)


def test_a_database_that_stays_down_is_said_again_at_most_once_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bingo.sync")
    now = [1000.0]
    trouble = StoreTrouble(clock=lambda: now[0])
    for _ in range(130):  # a round every second for 130 s
        trouble.failed("database at x is not reachable: down", "keeping the last 3 running")
        now[0] += 1
    said = sync_messages(caplog)
    assert said == [
        "database at x is not reachable: down; keeping the last 3 running",
        "database at x is not reachable: down (for 60s now); keeping the last 3 running",
        "database at x is not reachable: down (for 120s now); keeping the last 3 running",
    ]
    trouble.failed("database at x is not reachable: access denied", "keeping the last 3 running")
    assert len(sync_messages(caplog)) == 4  # a new reason is said at once
    trouble.ok("database reachable again: x")
    trouble.ok("database reachable again: x")
    assert sync_messages(caplog)[4:] == ["database reachable again: x (after 130s)"]
    assert not trouble.down


def test_the_sync_says_a_database_down_once_per_minute_in_its_rounds(
    tmp_path: Path, target: RecordingTarget, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bingo.sync")
    with Store(f"sqlite:///{tmp_path / 'missing' / 'no-table.db'}") as store:
        sync = make_sync(store, target)
        for _ in range(5):
            assert sync.sync_once().db_ok is False
    said = [m for m in sync_messages(caplog) if "not reachable" in m]
    assert len(said) == 1 and "sys_crontab sync retries every" in said[0]

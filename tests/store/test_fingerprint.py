"""Store.fingerprint on a real SQLite file and on real MariaDB: every change is seen."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rawdb import RawDB

from bingo_core.errors import ServiceUnavailable
from bingo_core.store import DISABLED, Fingerprint, Store

INSERT = "INSERT INTO sys_crontab (name, type, spec, payload, status) VALUES (%s, %s, %s, %s, %s)"

# One statement per kind of change; each must give a new fingerprint.
CHANGES = [
    ("name", "UPDATE sys_crontab SET name = 'b2' WHERE name = 'b'"),
    ("type", "UPDATE sys_crontab SET type = 'task:other' WHERE name = 'b2'"),
    ("spec", "UPDATE sys_crontab SET spec = '@daily' WHERE name = 'b2'"),
    ("payload", """UPDATE sys_crontab SET payload = '{"n": 2}' WHERE name = 'b2'"""),
    ("payload to NULL", "UPDATE sys_crontab SET payload = NULL WHERE name = 'b2'"),
    ("payload NULL to empty", "UPDATE sys_crontab SET payload = '' WHERE name = 'b2'"),
    ("status", "UPDATE sys_crontab SET status = 0 WHERE name = 'b2'"),
    ("insert", "INSERT INTO sys_crontab (name, type, spec) VALUES ('d', 't', '@hourly')"),
    ("delete", "DELETE FROM sys_crontab WHERE name = 'a'"),
    ("id", "UPDATE sys_crontab SET id = id + 100 WHERE name = 'c'"),
]


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with Store(db_url) as opened:
        opened.init_schema()
        yield opened


@pytest.fixture
def maria(mariadb_url: str) -> Iterator[tuple[Store, RawDB]]:
    """A Store on MariaDB with an empty ``sys_crontab``, and driver-level access to it."""
    raw = RawDB(mariadb_url)
    raw.execute("DROP TABLE IF EXISTS sys_crontab")
    with Store(mariadb_url) as store:
        store.init_schema()
        yield store, raw
    raw.close()


def seed(raw: RawDB) -> None:
    for name, payload in (("a", '{"n": 1}'), ("b", "[]"), ("c", None)):
        raw.execute(INSERT, (name, "task:ping", "* * * * *", payload, 1))


def fingerprint(store: Store) -> Fingerprint:
    value = store.fingerprint()
    assert value is not None
    return value


def test_every_kind_of_change_gives_a_new_fingerprint(store: Store, raw: RawDB) -> None:
    seed(raw)
    before = fingerprint(store)
    assert fingerprint(store) == before  # stable while nothing changes
    seen = [before]
    for what, sql in CHANGES:
        raw.execute(sql)
        after = fingerprint(store)
        assert after not in seen, what
        assert fingerprint(store) == after, what
        seen.append(after)


def test_a_write_through_the_same_store_is_seen(store: Store, raw: RawDB) -> None:
    seed(raw)
    before = fingerprint(store)
    row_id = store.add("e", "task:ping", "@daily")
    added = fingerprint(store)
    assert added != before
    store.set_status(row_id, DISABLED)
    assert fingerprint(store) not in (before, added)


def test_mysql_fingerprint_is_the_rows_content(
    maria: tuple[Store, RawDB], mariadb_url: str
) -> None:
    store, raw = maria
    seed(raw)
    before = fingerprint(store)
    # Timestamps are not part of it; an edit undone is no change.
    raw.execute("UPDATE sys_crontab SET updated_at = NOW(), created_at = NOW()")
    raw.execute("UPDATE sys_crontab SET spec = '@daily' WHERE name = 'a'")
    raw.execute("UPDATE sys_crontab SET spec = '* * * * *' WHERE name = 'a'")
    assert fingerprint(store) == before
    with Store(mariadb_url) as other:
        assert fingerprint(other) == before
    raw.execute("DELETE FROM sys_crontab")
    empty = fingerprint(store)
    assert empty[:2] == ("mysql", 0) and empty != before


def test_mysql_fingerprint_sees_edits_a_xor_of_crc32s_misses(maria: tuple[Store, RawDB]) -> None:
    store, raw = maria
    seed(raw)
    before = fingerprint(store)
    # The same one-byte edit at the end of two rows changes their CRC32s by the same
    # bits, so the XOR of all row hashes stays as it was.
    raw.execute("UPDATE sys_crontab SET status = 0 WHERE name IN ('a', 'b')")
    both_off = fingerprint(store)
    assert both_off[2] == before[2]  # the BIT_XOR column
    assert both_off != before
    # One row disabled and another enabled: the same edit again.
    raw.execute("UPDATE sys_crontab SET status = 1 - status WHERE name IN ('b', 'c')")
    swapped = fingerprint(store)
    assert swapped[2] == both_off[2]
    assert swapped not in (before, both_off)


def test_mysql_fingerprint_separates_the_columns(maria: tuple[Store, RawDB]) -> None:
    store, raw = maria
    raw.execute(INSERT, ("a,b", "c", "@daily", None, 1))
    before = fingerprint(store)
    # Joined with bare commas, the row reads "1,a,b,c,@daily,,1" before and after.
    raw.execute("UPDATE sys_crontab SET name = 'a', type = 'b,c'")
    assert fingerprint(store) != before


def test_sqlite_fingerprint_after_close_and_in_memory(sqlite_url: str) -> None:
    with Store(sqlite_url) as store:
        store.init_schema()
        first = fingerprint(store)
        store.close()  # a new private connection: its values never equal the old ones
        second = fingerprint(store)
        assert second != first
        assert fingerprint(store) == second
    with Store("sqlite://") as memory:
        memory.init_schema()
        assert memory.fingerprint() is None


def test_fingerprint_of_an_unreachable_database_is_a_service_error(mariadb_url: str) -> None:
    url = mariadb_url.rsplit("/", 1)[0] + "/bingo_no_such_db_x?charset=utf8mb4"
    with Store(url) as store, pytest.raises(ServiceUnavailable) as info:
        store.fingerprint()
    assert "Unknown database" in str(info.value) and "\n" not in str(info.value)

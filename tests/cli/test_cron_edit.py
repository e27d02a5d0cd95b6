"""``bingo-scheduler cron edit ID``, run as a real process: the given columns change after
the row rules of ``cron add``; a bad edit writes nothing and is one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_cron_cli import Cli, assert_one_line_error, table

from bingo_core.store import Store


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "bingo.db"


@pytest.fixture
def cli(tmp_path: Path, db_path: Path) -> Cli:
    runner = Cli(tmp_path, f"sqlite:///{db_path}")
    with Store(f"sqlite:///{db_path}") as store:
        store.init_schema()
        store.add("stats", "task:daily-stats", "@daily", '{"limit": 3}', 1)
        store.add("paused", "task:daily-stats", "@hourly", None, 0)
    return runner


def test_cron_edit_changes_the_given_columns(cli: Cli, db_path: Path) -> None:
    edited, renamed = cli.many(
        [
            ["cron", "edit", "1", "--spec", " 0 3 * * * ", "--payload", '{"limit": 5}', "--json"],
            ["cron", "edit", "2", "--name", "nightly"],
        ]
    )
    assert edited.code == 0, edited
    row = edited.json()
    assert (row["id"], row["name"], row["spec"], row["payload"]) == (
        1,
        "stats",
        "0 3 * * *",
        '{"limit": 5}',
    )
    assert row["note"] == (
        "running daemons reschedule it at their next sync (within 10s), "
        "or now with: kill -USR1 <daemon pid>"
    )
    assert renamed.code == 0, renamed
    line, note = renamed.out.splitlines()
    assert line == "edited sys_crontab row 2 'nightly': task:daily-stats at '@hourly' (disabled)"
    assert note == "it does not run (disabled)"
    assert table(db_path) == [
        (1, "stats", "task:daily-stats", "0 3 * * *", '{"limit": 5}', 1),
        (2, "nightly", "task:daily-stats", "@hourly", None, 0),
    ]


def test_a_bad_cron_edit_writes_nothing(cli: Cli, db_path: Path) -> None:
    before = table(db_path)
    spec, payload, model, empty, nothing, missing = cli.many(
        [
            ["cron", "edit", "1", "--spec", "61 * * * *"],
            ["cron", "edit", "1", "--payload", "{not json"],
            ["cron", "edit", "1", "--payload", '{"limit": "many"}'],
            ["cron", "edit", "1", "--name", "  "],
            ["cron", "edit", "1"],
            ["cron", "edit", "9", "--name", "x"],
        ]
    )
    assert_one_line_error(spec, 2, "61 * * * *")
    assert_one_line_error(payload, 2, "payload")
    assert_one_line_error(model, 2, "limit")
    assert_one_line_error(empty, 2, "--name must not be empty")
    assert_one_line_error(nothing, 2, "give at least one of --spec, --payload, --name")
    assert_one_line_error(missing, 2, "sys_crontab row 9 does not exist")
    assert table(db_path) == before

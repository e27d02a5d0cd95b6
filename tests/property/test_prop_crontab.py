"""Random ``sys_crontab`` rows through ``compile_row`` (what the sync does with each row)
and through ``bingo-scheduler cron add`` on SQLite and MariaDB.

Rows have random names (empty, blank, 100 and 101 characters, 4-byte characters, NUL),
types (registered, unknown, too long), specs (as in ``test_prop_cron``, and a few chosen
near-misses) and payload texts (valid JSON objects, other JSON values, broken JSON, NaN,
numbers beyond a double, lone surrogates, more than a TEXT column holds).

Properties: ``compile_row`` returns an entry or raises a ``UsageError`` in one line, and an
entry it returns has a next fire time (or says in one line it has none); ``cron add``
exits 0 and the row is in the table as given, or exits 2 with one line and the table is
unchanged, never an internal error or a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fuzz_support import FUZZ, check_outcome, only_bingo_errors, run_main, write_yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from test_prop_cron import specs

import bingo_core as bingo
from bingo_core.errors import UsageError
from bingo_core.registry import Registry
from bingo_core.scheduler.rows import compile_row


class Report(BaseModel):
    date: str = "today"
    limit: int = 10


async def handle(ctx: bingo.TaskContext, payload: Report) -> None:
    """Nothing."""


class Plugin:
    @bingo.hookimpl
    def bingo_register_tasks(self, register: Any) -> None:
        register("task:report", handle, payload=Report)
        register("task:open", handle)


NAMES = st.sampled_from(
    [
        "nightly",
        "",
        " ",
        "x" * 100,
        "x" * 101,
        "\u00e9" * 100,
        "\U0001f600" * 30,
        "a\x00b",
        "a\nb",
        "Robert'); DROP TABLE sys_crontab;--",
        "%s",
        "\\",
    ]
) | st.text(max_size=12)
ROW_TYPES = st.sampled_from(
    [
        "task:report",
        "task:open",
        "task:nosuch",
        "",
        " task:report",
        "x" * 51,
        "test:typed",
        "test:record",
    ]
)
ROW_SPECS = specs() | st.sampled_from(
    ["0 2 * * *", "@every 1h", "x" * 101, "", "   ", "@every 99999999999999999999s", "0 0 30 2 *"]
)
PAYLOAD_TEXTS = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "",
            " ",
            "null",
            "{}",
            "[]",
            "1",
            '"x"',
            "{",
            "{}{}",
            "NaN",
            '{"limit": NaN}',
            '{"limit": 1e999}',
            '{"limit": 99999999999999999999}',
            '{"date": "\\ud800"}',
            '{"date": 5}',
            '{"limit": "7"}',
            '{"nosuch": 1}',
            '{"date": "' + "x" * 70_000 + '"}',
            '{"date": "\U0001f600"}',
            "\ufeff{}",
            '{"a": {"b": {"c": []}}}',
        ]
    ),
    st.dictionaries(
        st.sampled_from(["date", "limit", "x"]),
        st.integers() | st.text(max_size=5) | st.floats(),
        max_size=2,
    ).map(lambda d: json.dumps(d)),
)


@pytest.fixture
def registry(bingo_registry: Callable[..., Registry]) -> Registry:
    return bingo_registry(Plugin())


@settings(FUZZ, max_examples=250)
@given(
    row_id=st.none() | st.integers(-(2**63), 2**63),
    name=NAMES,
    task_type=ROW_TYPES,
    spec=ROW_SPECS,
    payload=PAYLOAD_TEXTS,
    zone=st.sampled_from(["Asia/Shanghai", "UTC", "Mars/Olympus", None]),
)
def test_compile_row(
    registry: Registry,
    row_id: int | None,
    name: str,
    task_type: str,
    spec: str,
    payload: str | None,
    zone: str | None,
) -> None:
    with only_bingo_errors() as raised:
        entry = compile_row(row_id, name, task_type, spec, payload, registry, zone)
    if raised:
        assert isinstance(raised[0], UsageError), raised[0]
        return
    with only_bingo_errors():
        moment = entry.schedule.next_after(datetime.now(UTC))
        assert moment.timestamp() > 0
    assert json.loads(entry.payload_json, parse_constant=_refuse) is not None


def _refuse(name: str) -> Any:
    raise AssertionError(f"the compiled payload holds {name}, which is not JSON")


# -- cron add ------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "mysql"])
def cron_config(request: pytest.FixtureRequest, cli_env: Path, redis_url: str) -> Iterator[Path]:
    """A config on SQLite or on a fresh MariaDB database (dropped afterwards), table made."""
    if request.param == "sqlite":
        url = f"sqlite:///{cli_env / 'bingo.db'}"
    else:
        url = str(request.getfixturevalue("bingo_mysql_url"))
    config = write_yaml(
        cli_env / "bingo.yaml",
        {"redis": {"url": redis_url}, "database": {"url": url}, "server": {"key": "Zq-key-31337"}},
    )
    yield config


def _rows(config: Path) -> list[Any]:
    """The table's rows, read directly."""
    from bingo_core.config import load_settings
    from bingo_core.store import store_from_settings

    with store_from_settings(load_settings(config, env={})) as store:
        return store.rows()


@settings(FUZZ, max_examples=40)
@given(
    name=NAMES, task_type=ROW_TYPES, spec=ROW_SPECS, payload=PAYLOAD_TEXTS, disabled=st.booleans()
)
@example(
    name="\U0001f600",
    task_type="test:record",
    spec="@daily",
    payload='{"path": "p", "value": "v"}',
    disabled=False,
)
def test_cron_add(
    cron_config: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    task_type: str,
    spec: str,
    payload: str | None,
    disabled: bool,
) -> None:
    base = ["-c", str(cron_config)]
    if not (cron_config.parent / ".initialised").exists():
        assert run_main(capsys, [*base, "db", "init"]).code == 0
        (cron_config.parent / ".initialised").touch()
    before = len(_rows(cron_config))
    argv = [*base, "cron", "add", "--json", "--", name, task_type, spec]
    if payload is not None:
        argv[5:5] = ["--payload", payload]
    if disabled:
        argv.insert(5, "--disabled")
    result = run_main(capsys, argv)
    check_outcome(result, secrets=["Zq-key-31337"])
    if result.code == 0:
        row = json.loads(result.out)
        assert (row["name"], row["type"], row["spec"]) == (name, task_type, spec.strip())
        assert row["payload"] == payload
        assert len(_rows(cron_config)) == before + 1
    else:
        assert result.code == 2, result
        assert len(_rows(cron_config)) == before
